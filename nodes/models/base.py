"""The one interface every model offers the nodes: chat prompts in, generations out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Messages = list[dict[str, str]]  # [{"role": "system"|"user"|"assistant", "content": ...}]


class ModelCallError(RuntimeError):
    """A model call that failed for good (after the client's own retries)."""


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. temperature 0 means greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    # Local models only (transformers' repetition_penalty): small models decoding greedily fall
    # into loops ("The final answer is: The final answer is: ..."); 1.1 breaks them.
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


GREEDY = Sampling()


def clean_text(text: str) -> str:
    """Model text as stored: NUL characters dropped (PostgreSQL text cannot hold them, and no
    reader wants them), surrounding white space trimmed."""
    return text.replace("\x00", "").strip()


@dataclass
class Generation:
    text: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None  # a batched call's wall time, shared equally by its outputs


class ChatModel(Protocol):
    spec: str  # the spec string as recorded in the store (no secrets)

    def generate(self, prompts: list[Messages], n: int = 1, sampling: Sampling = GREEDY) -> list[list[Generation]]:
        """`n` generations for each prompt, in prompt order."""
        ...
