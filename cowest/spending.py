"""What a job spent on the strong model and the LLM judge: requests sent and reused, tokens, money."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Spending:
    sent: int = 0  # strong and LLM-judge outputs asked for (greedy: one request each)
    reused: int = 0  # calls served from the store instead: cost nothing
    tokens_in: int = 0
    tokens_out: int = 0
    http_requests: int = 0  # what `sent` took on the wire: retries and failed requests included

    @classmethod
    def of(cls, ledger) -> Spending:
        """The billed part of a job's ledger (nodes/ledger.py)."""
        return cls(ledger.billed_sent, ledger.billed_reused, ledger.tokens_in, ledger.tokens_out, ledger.http_requests)

    def __add__(self, other: Spending) -> Spending:
        return Spending(
            self.sent + other.sent,
            self.reused + other.reused,
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.http_requests + other.http_requests,
        )

    def cost(self, price_in: float | None, price_out: float | None) -> float | None:
        """US dollars at these prices per million input and output tokens; None without prices."""
        if price_in is None and price_out is None:
            return None
        return (self.tokens_in * (price_in or 0) + self.tokens_out * (price_out or 0)) / 1e6

    def line(self, pairs: int | None = None, price_in: float | None = None, price_out: float | None = None) -> str:
        """One line for a summary."""
        # Said only where retries or failed requests made them more (a local model's make none).
        more = self.http_requests > self.sent
        wire = f" ({self.http_requests} over HTTP, retries included)" if more else ""
        text = (
            f"strong/judge requests: {self.sent} sent{wire}, {self.reused} reused from the store; "
            f"{self.tokens_in} tokens in, {self.tokens_out} out"
        )
        if pairs:
            text += f"; {self.sent / pairs:.2f} sent per pair"
        cost = self.cost(price_in, price_out)
        if cost is not None:
            text += f"; ${cost:.4f}"
        return text
