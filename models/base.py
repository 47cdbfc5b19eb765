"""The one interface every model offers the nodes: chat prompts in, generations out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from cowest.core.messages import Messages


class ModelCallError(RuntimeError):
    """A model call that failed for good (after the client's own retries)."""

    sends = 0  # HTTP requests it took, retries included (a remote model's; 0 for a local one)


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. temperature 0 means greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    # Local models only (transformers' repetition_penalty): small models decoding greedily fall
    # into loops ("The final answer is: The final answer is: ..."); 1.1 breaks them.
    repetition_penalty: float = 1.0
    # Ask for each output token's log probability (remote APIs that return them; FLARE's confidence).
    logprobs: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


GREEDY = Sampling()


@dataclass(frozen=True)
class RequestPolicy:
    """How a model is called. Remote: a request's timeout (from the moment it is sent, not while it
    waits for a slot), its retries (exponential backoff with jitter, honouring Retry-After) and the
    model's requests in flight. Local: the engine it decodes with."""

    timeout: float = 60.0
    max_retries: int = 2
    max_in_flight: int = 0  # requests to this model at once; 0: adaptive (limits.py)
    base_url: str | None = None  # this model's own OpenAI-compatible server (default: $OPENAI_BASE_URL)
    engine: str = "auto"  # a local model's decoding engine (engines.py's ENGINES)


DEFAULT_POLICY = RequestPolicy()


Outcome = list["Generation | ModelCallError"]  # n results for one prompt, each a generation or its error
# Per prompt, one seed per sample: a sampled output reproducible from its identity (--seed), where
# the model can honour it (a local model's own random stream per row; an API's `seed`).
Seeds = list[list[int]] | None


def _seeds_of(seeds: Seeds, indices: list[int]) -> Seeds:
    return None if seeds is None else [seeds[i] for i in indices]


def generate_each(
    model: ChatModel, prompts: list[Messages], counts: list[int], sampling: Sampling, seeds: Seeds = None
) -> list[Outcome]:
    """`counts[i]` results for prompt i, each a Generation or the error that prompt's request met;
    prompts asking the same count share one batched `generate`."""
    out: list[Outcome] = [[] for _ in prompts]
    for count, indices in _by_count(counts).items():
        try:
            picked = [prompts[i] for i in indices]
            if seeds is None:
                results = model.generate(picked, n=count, sampling=sampling)
            else:
                results = model.generate(picked, n=count, sampling=sampling, seeds=_seeds_of(seeds, indices))
        except ModelCallError as exc:
            results = [[exc] * count for _ in indices]  # type: ignore[list-item]
        for i, gens in zip(indices, results):
            out[i] = list(gens)
    return out


async def agenerate_each(
    model: Any, prompts: list[Messages], counts: list[int], sampling: Sampling, seeds: Seeds = None
) -> list[Outcome]:
    """`generate_each` over the model's `agenerate`, every count's batch asked for at once."""
    groups = _by_count(counts)
    batches = [
        model.agenerate([prompts[i] for i in indices], count, sampling, _seeds_of(seeds, indices))
        for count, indices in groups.items()
    ]
    out: list[Outcome] = [[] for _ in prompts]
    for (count, indices), results in zip(groups.items(), await asyncio.gather(*batches, return_exceptions=True)):
        if isinstance(results, BaseException):
            if not isinstance(results, ModelCallError):
                raise results
            results = [[results] * count for _ in indices]
        for i, gens in zip(indices, results):
            out[i] = list(gens)
    return out


def _by_count(counts: list[int]) -> dict[int, list[int]]:
    """Positions of the prompts asking for each count."""
    groups: dict[int, list[int]] = {}
    for i, count in enumerate(counts):
        groups.setdefault(count, []).append(i)
    return groups


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
    logprobs: list | None = None  # [[token, log probability], ...] where asked for and returned
    # HTTP requests the request took, retries included, on its first output (the rest: 0); local: 0
    sends: int = 0


@dataclass
class Reply:
    """What a chat completion request returned: one text per choice and the request's tokens."""

    texts: list[str]
    tokens_in: int | None = None
    tokens_out: int | None = None
    logprobs: list | None = None  # per choice: [[token, log probability], ...] or None


class ChatModel(Protocol):
    spec: str  # the spec string as recorded in the store (no secrets)

    def generate(
        self, prompts: list[Messages], n: int = 1, sampling: Sampling = GREEDY, seeds: Seeds = None
    ) -> list[list[Generation]]:
        """`n` generations for each prompt, in prompt order; raises ModelCallError if any fails."""
        ...

    def generate_each(
        self, prompts: list[Messages], counts: list[int], sampling: Sampling, seeds: Seeds = None
    ) -> list[Outcome]:
        """`counts[i]` results for prompt i, where each prompt succeeds or fails on its own."""
        ...
