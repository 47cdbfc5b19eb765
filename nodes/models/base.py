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


@dataclass(frozen=True)
class RequestPolicy:
    """How a model is called. Remote: a request's timeout (from the moment it is sent, not while it
    waits for a slot), its retries (exponential backoff with jitter, honouring Retry-After) and the
    model's requests in flight. Local: whether it runs compiled."""

    timeout: float = 60.0
    max_retries: int = 2
    max_in_flight: int = 0  # requests to this model at once; 0: adaptive (limits.py)
    base_url: str | None = None  # this model's own OpenAI-compatible server (default: $OPENAI_BASE_URL)
    compiled: bool = False  # a local model on CUDA: static KV cache + torch.compile


DEFAULT_POLICY = RequestPolicy()


Outcome = list["Generation | ModelCallError"]  # n results for one prompt, each a generation or its error


def generate_each(model: ChatModel, prompts: list[Messages], counts: list[int], sampling: Sampling) -> list[Outcome]:
    """`counts[i]` results for prompt i, each a Generation or the error that prompt's request met;
    prompts asking the same count share one batched `generate`."""
    out: list[Outcome] = [[] for _ in prompts]
    by_count: dict[int, list[int]] = {}
    for i, count in enumerate(counts):
        by_count.setdefault(count, []).append(i)
    for count, indices in by_count.items():
        try:
            results = model.generate([prompts[i] for i in indices], n=count, sampling=sampling)
        except ModelCallError as exc:
            results = [[exc] * count for _ in indices]  # type: ignore[list-item]
        for i, gens in zip(indices, results):
            out[i] = list(gens)
    return out


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


@dataclass
class Reply:
    """What a chat completion request returned: one text per choice and the request's tokens."""

    texts: list[str]
    tokens_in: int | None = None
    tokens_out: int | None = None


class ChatModel(Protocol):
    spec: str  # the spec string as recorded in the store (no secrets)

    def generate(self, prompts: list[Messages], n: int = 1, sampling: Sampling = GREEDY) -> list[list[Generation]]:
        """`n` generations for each prompt, in prompt order; raises ModelCallError if any fails."""
        ...

    def generate_each(self, prompts: list[Messages], counts: list[int], sampling: Sampling) -> list[Outcome]:
        """`counts[i]` results for prompt i, where each prompt succeeds or fails on its own."""
        ...
