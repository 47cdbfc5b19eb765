"""Remote chat models: OpenAI-compatible servers (OpenAI, vLLM, llama.cpp server...) through
langchain-openai, and any other LangChain provider through init_chat_model (providers.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import random
import threading
import time
from typing import Any

from cowest.core import ConfigError, ServiceUnavailable

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
from .limits import limit_for
from .spec import ModelSpec


class RemoteChatModel:
    """One OpenAI-compatible model. Each prompt of a batch is its own request, which succeeds or
    fails on its own; a server that returns fewer choices than `n` is asked again for the rest.
    Requests wait for a slot of the model's in-flight limit (limits.py) before they are sent and
    timed; cowest retries them itself, so a retry waits for a slot too."""

    supports_n = True  # one request returns n samples; otherwise n requests are sent

    def __init__(
        self,
        spec: ModelSpec,
        base_url: str | None,
        api_key: str | None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ):
        if not (base_url or api_key):
            raise ConfigError(f"{spec}: set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
        self.spec = str(spec)
        self.model = spec.model
        self.base_url = base_url
        self.policy = policy
        self.limit = limit_for(base_url, spec.model, policy.max_in_flight)
        from .openai_client import OPENAI_API, openai_client  # the HTTP stack only once a model is made

        # Local servers (vLLM, llama.cpp) accept any key; the clients insist on one.
        self.client = openai_client(base_url or OPENAI_API, api_key or "EMPTY", policy.timeout, spec.model)

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

    async def _request(self, prompt: Messages, n: int, sampling: Sampling, seed: int | None = None) -> Reply:
        return await self.client.complete(self.model, prompt, request_params(sampling, n, seed))

    async def _complete(self, prompt: Messages, n: int, sampling: Sampling, seed: int | None = None) -> Outcome:
        """`n` results for one prompt; a short reply is topped up once, then the rest are errors.
        `seed`: the API's `seed` of the request (the top-up's is the next one)."""
        try:
            gens = await self._one(prompt, n, sampling, seed)
            if len(gens) < n:
                again = None if seed is None else seed + 1
                gens += (await self._one(prompt, n - len(gens), sampling, again))[: n - len(gens)]
        except ModelCallError as exc:
            return [exc] * n
        missing = n - len(gens)
        short = ModelCallError(f"{self.spec}: the server returned {n - missing} of {n} choices") if missing else None
        return [*gens[:n], *([short] * missing)] if short else list(gens[:n])

    async def _one(self, prompt: Messages, n: int, sampling: Sampling, seed: int | None = None) -> list[Generation]:
        """One request, retried on timeouts, 429 and 5xx with exponential backoff and jitter
        (honouring Retry-After). A push-back met while other requests were in flight with this one
        is the limit's doing, not the server's failure: it halves the limit and is sent again
        without counting as a retry."""
        retries = crowded = 0
        while True:
            async with self.limit.aslot() as crowd:
                start = time.perf_counter()
                try:
                    result = await self._request(prompt, n, sampling, seed)
                    self.limit.success(slow=time.perf_counter() - start > self.policy.timeout / 2)
                    break
                except Exception as exc:
                    error, kind = exc, _failure_kind(exc)
                    if kind == "push-back":
                        self.limit.push_back()
            if kind == "push-back" and crowd > 1 and crowded < _MAX_CROWDED:
                crowded += 1
                continue
            if kind == "final" or retries >= self.policy.max_retries:
                raise ModelCallError(f"{self.spec}: {_one_line(error)}") from error
            retries += 1
            await asyncio.sleep(_backoff(retries, error))
        elapsed = time.perf_counter() - start
        texts = result.texts
        if not texts:
            return []
        share_out = None if result.tokens_out is None else result.tokens_out // len(texts)
        return [
            Generation(
                text=clean_text(t), tokens_in=result.tokens_in, tokens_out=share_out, latency_s=elapsed / len(texts)
            )
            for t in texts
        ]


_MAX_CROWDED = 16  # free resends of one request that met a push-back in a crowd


def _failure_kind(exc: Exception) -> str:
    """push-back: the server is overloaded (timeout, 429, 503); retry: a transient failure
    (connection, other 5xx); final: anything a retry cannot fix (a bad request, a wrong key).
    Other providers' SDKs are read by their exceptions' status codes and names."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.RateLimitError)):
        return "push-back"
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    name = type(exc).__name__
    if status in (429, 503) or "Timeout" in name or "RateLimit" in name or "ResourceExhausted" in name:
        return "push-back"
    if isinstance(exc, (openai.APIConnectionError, ConnectionError)) or "Connection" in name:
        return "retry"
    if isinstance(status, int) and (status >= 500 or status == 409):
        return "retry"
    return "final"


def _backoff(retry: int, exc: Exception) -> float:
    """Seconds before retry number `retry`: Retry-After when the server says, else 0.5 s doubling
    up to 8 s, with jitter (as the OpenAI SDK waits)."""
    headers = getattr(exc, "headers", None) or getattr(getattr(exc, "response", None), "headers", None) or {}
    after = headers.get("retry-after")
    try:
        if after is not None:
            return min(60.0, max(0.0, float(after)))
    except ValueError:
        pass
    return min(8.0, 0.5 * 2 ** (retry - 1)) * (1 - 0.25 * random.random())


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's one event loop for remote requests, in a daemon thread of its own, started on
    first use. One loop: the async clients' connection pools belong to the loop they were made on."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="cowest-requests", daemon=True).start()
        return _loop


def submit_on_loop(coro: Any) -> concurrent.futures.Future:
    """Start `coro` on the requests' loop, in a copy of the caller's context (the job's ledger goes
    with it); cancelling the returned future cancels it."""
    loop = event_loop()
    done: concurrent.futures.Future = concurrent.futures.Future()

    def start() -> None:
        if done.cancelled():  # cancelled before it started
            coro.close()
            return
        task = loop.create_task(coro)  # created inside the caller's context: it runs in a copy of it
        task.add_done_callback(lambda t: _settle(done, t))
        done.add_done_callback(lambda f: f.cancelled() and loop.call_soon_threadsafe(task.cancel))

    loop.call_soon_threadsafe(contextvars.copy_context().run, start)
    return done


def run_on_loop(coro: Any) -> Any:
    """Run `coro` on the requests' loop and wait for it here (not from that loop: it would wait for itself)."""
    if _loop is not None and _running_loop() is _loop:
        coro.close()
        raise RuntimeError("a blocking model call from cowest's requests loop; await agenerate_each instead")
    return submit_on_loop(coro).result()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(done: concurrent.futures.Future, task: asyncio.Task) -> None:
    if done.done():
        return
    if task.cancelled():
        done.cancel()
    elif task.exception() is not None:
        done.set_exception(task.exception())
    else:
        done.set_result(task.result())


def request_params(sampling: Sampling, n: int, seed: int | None = None) -> dict[str, Any]:
    """The decoding parameters of one request, in the OpenAI API's names."""
    params: dict[str, Any] = dict(temperature=sampling.temperature, max_completion_tokens=sampling.max_new_tokens)
    if not sampling.greedy:
        params["top_p"] = sampling.top_p
        if seed is not None:  # OpenAI's and vLLM's `seed`: best-effort reproducible sampling
            params["seed"] = seed
    if n > 1:
        params["n"] = n
    return params


def reply_of(result: Any) -> Reply:
    """A LangChain LLMResult of one prompt as a Reply."""
    gens = result.generations[0]
    usage = (getattr(getattr(gens[0], "message", None), "usage_metadata", None) or {}) if gens else {}
    return Reply([g.text or "" for g in gens], usage.get("input_tokens"), usage.get("output_tokens"))


def to_langchain(prompt: Messages):
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](content=m["content"]) for m in prompt]


def _one_line(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300]


def check_reachable(base_url: str | None, timeout: float = 5.0) -> None:
    """Fail fast, with one line, when an OpenAI-compatible server cannot be reached at all (any
    HTTP answer, even an error status, means it is there)."""
    if not base_url:
        return
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=timeout).close()
    except urllib.error.HTTPError:
        pass
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = _one_line(
            exc.reason if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, Exception) else exc
        )
        raise ServiceUnavailable(f"cannot reach the OpenAI-compatible server at {base_url}: {why}") from None
