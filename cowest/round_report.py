"""What a round came to, as `cowest rounds` prints it: built as the round runs, or read back from
the adapter row a finished round recorded."""

from __future__ import annotations

from dataclasses import dataclass, field

from cowest.storage import Adapter

from .heldout import HeldOut
from .spending import Spending


@dataclass
class RoundReport:
    round: int
    objective: str = "dpo"
    queries: int = 0
    drafts: int = 0
    positives: int = 0
    negatives: int = 0
    pairs: int = 0
    spending: Spending = field(default_factory=Spending)  # of the round's last collection
    loss: float | None = None
    margin: float | None = None  # DPO/KTO: the mean reward margin of the last steps
    mean_reward: float | None = None  # GRPO: the mean reward of the round's completions
    adapter: str | None = None
    note: str = ""
    failed: bool = False  # the round's collection had failed calls; it was not trained
    budget_stopped: bool = False  # the budget ran out during the round's collection
    heldout: HeldOut | None = None  # --eval-data: the round's adapter on the held-out queries
    drafts_seen: dict | None = None  # what the round's drafts looked like (cowest/diagnostics.py)
    spent_now: bool = True  # False: done earlier or by another process; its spending is not this command's

    @property
    def pairs_shown(self) -> int | str:
        return "-" if self.objective == "grpo" else self.pairs  # GRPO learns from rewards, not pairs

    @property
    def margin_or_reward(self) -> float | None:
        """The last column of a round's row: DPO's reward margin, GRPO's mean reward."""
        return self.mean_reward if self.objective == "grpo" else self.margin


_NO_SPREAD = (
    "; no group's rewards differed, so nothing was learned (more --samples or queries, or a judge that tells "
    "drafts apart)"
)


def report_from_row(row: Adapter, note: str, spent_now: bool = True) -> RoundReport:
    """The report of a round recorded in the store, from the metrics its adapter row keeps."""
    m = row.metrics or {}
    if row.kind == "grpo" and m.get("steps") and m.get("frac_reward_zero_std", 0) >= 1:
        # TRL's share of groups whose rewards were all equal, 1 at every step: every advantage was 0
        note += _NO_SPREAD
    return RoundReport(
        round=row.round,
        objective=row.kind,
        queries=m.get("queries", 0),
        drafts=m.get("drafts", 0),
        positives=m.get("positives", 0),
        negatives=m.get("negatives", 0),
        pairs=m.get("pairs", 0),
        spending=Spending(**m["spending"]) if "spending" in m else Spending(sent=m.get("strong_calls", 0)),
        loss=m.get("loss"),
        margin=m.get("rewards/margins"),
        mean_reward=(m.get("rewards") or {}).get("mean_reward"),
        adapter=row.path,
        note=note,
        drafts_seen=m.get("drafts_seen"),
        spent_now=spent_now,
    )
