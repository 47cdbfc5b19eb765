"""OpenAI-compatible chat models (OpenAI, vLLM, llama.cpp server...) through langchain-openai."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cowest.core import ConfigError, ServiceUnavailable

from .base import (
    DEFAULT_POLICY,
    GREEDY,
    Generation,
    Messages,
    ModelCallError,
    Outcome,
    RequestPolicy,
    Sampling,
    clean_text,
)
from .spec import ModelSpec


class RemoteChatModel:
    """One OpenAI-compatible model. Each prompt of a batch is its own request, which succeeds or
    fails on its own; a server that returns fewer choices than `n` is asked again for the rest."""

    def __init__(
        self,
        spec: ModelSpec,
        base_url: str | None,
        api_key: str | None,
        policy: RequestPolicy = DEFAULT_POLICY,
        concurrency: int = 8,
    ):
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        if not (base_url or api_key):
            raise ConfigError(f"{spec}: set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
        self.spec = str(spec)
        self.base_url = base_url
        self.concurrency = concurrency
        # Local servers (vLLM, llama.cpp) accept any key; the client insists on one.
        self.client = ChatOpenAI(
            model=spec.model,
            base_url=base_url,
            api_key=SecretStr(api_key or "EMPTY"),
            max_retries=policy.max_retries,
            timeout=policy.timeout,
        )

    def generate(self, prompts: list[Messages], n: int = 1, sampling: Sampling = GREEDY) -> list[list[Generation]]:
        outcomes = self.generate_each(prompts, [n] * len(prompts), sampling)
        for outcome in outcomes:
            for result in outcome:
                if isinstance(result, ModelCallError):
                    raise result
        return [[g for g in outcome if isinstance(g, Generation)] for outcome in outcomes]

    def generate_each(self, prompts: list[Messages], counts: list[int], sampling: Sampling) -> list[Outcome]:
        if len(prompts) == 1:
            return [self._complete(prompts[0], counts[0], sampling)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(lambda pc: self._complete(pc[0], pc[1], sampling), zip(prompts, counts)))

    def _complete(self, prompt: Messages, n: int, sampling: Sampling) -> Outcome:
        """`n` results for one prompt; a short reply is topped up once, then the rest are errors."""
        try:
            gens = self._one(prompt, n, sampling)
            if len(gens) < n:
                gens += self._one(prompt, n - len(gens), sampling)[: n - len(gens)]
        except ModelCallError as exc:
            return [exc] * n
        missing = n - len(gens)
        short = ModelCallError(f"{self.spec}: the server returned {n - missing} of {n} choices") if missing else None
        return [*gens[:n], *([short] * missing)] if short else list(gens[:n])

    def _one(self, prompt: Messages, n: int, sampling: Sampling) -> list[Generation]:
        params: dict[str, Any] = dict(temperature=sampling.temperature, max_tokens=sampling.max_new_tokens)
        if not sampling.greedy:
            params["top_p"] = sampling.top_p
        if n > 1:
            params["n"] = n
        start = time.perf_counter()
        try:
            result = self.client.generate([_to_langchain(prompt)], **params)
        except Exception as exc:  # the client already retried; anything left is final for this call
            raise ModelCallError(f"{self.spec}: {_one_line(exc)}") from exc
        elapsed = time.perf_counter() - start
        gens = result.generations[0]
        if not gens:
            return []
        usage = getattr(getattr(gens[0], "message", None), "usage_metadata", None) or {}
        tokens_in = usage.get("input_tokens")
        tokens_out = usage.get("output_tokens")
        share_out = None if tokens_out is None else tokens_out // max(1, len(gens))
        return [
            Generation(
                text=clean_text(g.text or ""), tokens_in=tokens_in, tokens_out=share_out, latency_s=elapsed / len(gens)
            )
            for g in gens
        ]


def _to_langchain(prompt: Messages):
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](content=m["content"]) for m in prompt]


def _one_line(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300]


def check_reachable(base_url: str | None, timeout: float = 5.0) -> None:
    """Fail fast, with one line, when an OpenAI-compatible server cannot be reached at all."""
    if not base_url:
        return
    import httpx

    try:
        httpx.get(base_url.rstrip("/") + "/models", timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"cannot reach the OpenAI-compatible server at {base_url}: {_one_line(exc)}") from None
