"""An OpenAI-compatible chat model (OpenAI, vLLM, llama.cpp server, Ollama...) over the one HTTP
stack (http.py), with the model's in-flight limit (limits.py) and retries (retry_policy.py)."""

from __future__ import annotations

import asyncio
import time
import uuid

from cowest.core import ConfigError

from .base import (
    DEFAULT_POLICY,
    GREEDY,
    Generation,
    Messages,
    ModelCallError,
    Outcome,
    Reply,
    RequestPolicy,
    Sampling,
    Seeds,
    clean_text,
)
from .http import endpoint
from .limits import limit_for
from .messages import one_line, request_params
from .requests_loop import run_on_loop
from .retry_policy import MAX_CROWDED, backoff, failure_kind
from .settings import OPENAI_API
from .spec import ModelSpec


class RemoteChatModel:
    """One OpenAI-compatible model. Each prompt of a batch is its own request, which succeeds or
    fails on its own. Requests wait for a slot of the model's in-flight limit before they are sent
    and timed; cowest retries them itself (a retry waits for a slot too), and nothing else resends
    a request. A server that ignores `n` (llama.cpp, Ollama) is remembered as such: the missing
    samples, and from then on every sample, are asked one request each, in flight together."""

    def __init__(
        self,
        spec: ModelSpec,
        base_url: str | None,
        api_key: str | None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ):
        if not (base_url or api_key):
            raise ConfigError(f"{spec}: set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
        # `api_key` is the one bound to this endpoint (ModelSettings.key_for): it goes nowhere else
        self.spec = str(spec)
        self.model = spec.model
        self.base_url = base_url
        self.policy = policy
        self.limit = limit_for(base_url, spec.model, policy.max_in_flight)
        self.endpoint = endpoint(base_url or OPENAI_API, api_key, policy.timeout)

    @property
    def supports_n(self) -> bool:
        """Whether one request returns n samples (otherwise n requests are sent)."""
        return not self.endpoint.ignores_n

    def generate(
        self, prompts: list[Messages], n: int = 1, sampling: Sampling = GREEDY, seeds: Seeds = None
    ) -> list[list[Generation]]:
        outcomes = self.generate_each(prompts, [n] * len(prompts), sampling, seeds)
        for outcome in outcomes:
            for result in outcome:
                if isinstance(result, ModelCallError):
                    raise result
        return [[g for g in outcome if isinstance(g, Generation)] for outcome in outcomes]

    def generate_each(
        self, prompts: list[Messages], counts: list[int], sampling: Sampling, seeds: Seeds = None
    ) -> list[Outcome]:
        """Sent from the process's one event loop (the async client): the caller's thread waits, and
        any number of requests are in flight without a thread each."""
        return run_on_loop(self.agenerate_each(prompts, counts, sampling, seeds))

    async def agenerate_each(
        self, prompts: list[Messages], counts: list[int], sampling: Sampling, seeds: Seeds = None
    ) -> list[Outcome]:
        if not self.supports_n and any(c > 1 for c in counts):
            each = [p for p, c in zip(prompts, counts) for _ in range(c)]
            each_seeds = None if seeds is None else [[seed] for row in seeds for seed in row]
            flat = await self.agenerate_each(each, [1] * len(each), sampling, each_seeds)
            out, i = [], 0
            for c in counts:
                out.append([r for outcome in flat[i : i + c] for r in outcome])
                i += c
            return out
        firsts = [None] * len(prompts) if seeds is None else [row[0] if row else None for row in seeds]
        if len(prompts) == 1:  # most node steps ask one prompt: no task to gather
            return [await self._complete(prompts[0], counts[0], sampling, firsts[0])]
        asked = (self._complete(p, c, sampling, seed) for p, c, seed in zip(prompts, counts, firsts))
        return list(await asyncio.gather(*asked))

    async def _request(
        self, prompt: Messages, n: int, sampling: Sampling, seed: int | None = None, key: str | None = None
    ) -> Reply:
        return await self.endpoint.complete(self.model, prompt, request_params(sampling, n, seed), key)

    async def _complete(self, prompt: Messages, n: int, sampling: Sampling, seed: int | None = None) -> Outcome:
        """`n` results for one prompt. A short answer marks the server as ignoring `n`; the missing
        samples are then asked one request each (seeds following the first one's)."""
        try:
            gens = await self._one(prompt, n, sampling, seed)
        except ModelCallError as exc:
            return [exc] * n
        if len(gens) >= n:
            return list(gens[:n])
        if n > 1:
            self.endpoint.ignores_n = True
        missing = range(len(gens), n)
        singles = [self._one(prompt, 1, sampling, None if seed is None else seed + j) for j in missing]
        out: Outcome = list(gens)
        for result in await asyncio.gather(*singles, return_exceptions=True):
            if isinstance(result, ModelCallError):
                out.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                out += result[:1] or [ModelCallError(f"{self.spec}: the server returned no choice")]
        return out

    async def _one(self, prompt: Messages, n: int, sampling: Sampling, seed: int | None = None) -> list[Generation]:
        """One request, retried on timeouts, 429, 5xx and dropped connections with exponential
        backoff and jitter (honouring Retry-After). A push-back met while other requests were in
        flight with this one is the limit's doing, not the server's failure: it halves the limit
        and is sent again without counting as a retry."""
        retries = crowded = sends = 0
        key = f"cowest-{uuid.uuid4().hex}"  # the Idempotency-Key of one request, however often it is sent
        while True:
            async with self.limit.aslot() as crowd:
                start = time.perf_counter()
                sends += 1
                try:
                    result = await self._request(prompt, n, sampling, seed, key)
                    self.limit.success(slow=time.perf_counter() - start > self.policy.timeout / 2)
                    break
                except Exception as exc:
                    error, kind = exc, failure_kind(exc)
                    if kind == "push-back":
                        self.limit.push_back()
            if kind == "push-back" and crowd > 1 and crowded < MAX_CROWDED:
                crowded += 1
                continue
            if kind == "final" or retries >= self.policy.max_retries:
                failed = ModelCallError(f"{self.spec}: {one_line(error)}")
                failed.sends = sends
                raise failed from error
            retries += 1
            await asyncio.sleep(backoff(retries, error))
        elapsed = time.perf_counter() - start
        texts = result.texts
        if not texts:
            return []
        share_out = None if result.tokens_out is None else result.tokens_out // len(texts)
        logprobs = result.logprobs or [None] * len(texts)
        return [
            Generation(
                text=clean_text(t),
                tokens_in=result.tokens_in,
                tokens_out=share_out,
                latency_s=elapsed / len(texts),
                logprobs=lp,
                sends=sends if i == 0 else 0,
            )
            for i, (t, lp) in enumerate(zip(texts, logprobs))
        ]
