"""Continuous batching of a local model's requests: the decoding thread decodes every request that is
waiting, and a request that arrives while others decode joins them at the next step (as vLLM does)
instead of waiting for their whole batch to end. Requests decode together when their adapter and
sampling agree.

Every local model of the process decodes on one thread (the decoding thread), as one device serves
them all: CUDA graphs captured by torch.compile live in the thread that captured them, and a thread
that holds no model between batches lets a dropped model's memory go.

Nothing waits on the decoding thread without a way out: a request leaves the queue only into a
list the thread owns, and whatever stops a batch (an exception in the model's forward, an
out-of-memory, a bug) fails every request it owned, and the thread goes on with the next."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field, replace
from typing import Any

from .base import Generation, Messages, ModelCallError, Sampling
from .decoding_thread import DECODING
from .spec import ModelSpecError

log = logging.getLogger(__name__)


@dataclass
class _Request:
    adapter: str | None
    prompts: list[Messages]
    n: int
    sampling: Sampling
    seeds: list[list[int]] | None = None  # per prompt, one per sample: each row's own random stream
    outputs: Future = field(default_factory=Future)  # its generations, or the error that stopped them
    # Once decoding: its rows in the batch, its prompts' lengths, when it joined
    slots: range = range(0)
    lengths: list[int] = field(default_factory=list)
    start: float = 0.0
    longest: int = 0  # its longest prompt in tokens (0: not measured)

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.n

    @property
    def tokens(self) -> int:
        """The most tokens its rows hold in the cache: what bounds its memory."""
        return len(self.prompts) * self.per_prompt * (self.longest + self.sampling.max_new_tokens)

    def decodes_with(self, other: _Request) -> bool:
        """Same adapter and token choice; each row keeps its own length budget, so a short request
        joins a long one instead of waiting for it to end."""
        return (self.adapter, _choice(self.sampling)) == (other.adapter, _choice(other.sampling))

    @property
    def per_prompt(self) -> int:
        return 1 if self.sampling.greedy else self.n  # greedy: n equal sequences, decoded once

    def row_seeds(self) -> list[int | None]:
        """The seed of each of its rows, prompt by prompt (None: torch's global stream)."""
        if self.seeds is None or self.sampling.greedy:
            return [None] * (len(self.prompts) * self.per_prompt)
        return [seed for seeds in self.seeds for seed in seeds]


def _choice(sampling: Sampling) -> Sampling:
    return replace(sampling, max_new_tokens=0)


class BatchServer:
    """Serves the generate requests of every caller of one LocalBase (the graph runs several queries
    at once) on the decoding thread, which owns the model while it decodes."""

    def __init__(
        self,
        base: Any,
        max_sequences: int = 64,
        max_tokens: int | None = None,
        measure: Callable[[list[Messages]], list[int]] | None = None,
        context: int | None = None,
    ):
        self.base = base
        self.max_sequences = max_sequences  # rows decoding at once; a larger request runs alone
        # Tokens the rows decoding at once may hold (prompt + new tokens each): long prompts batch
        # fewer rows, so memory stays bounded whatever the queries' lengths. A larger request runs alone.
        self.max_tokens = max_tokens
        self.measure = measure  # prompts -> their lengths in tokens (called on the decoding thread)
        self.context = context  # the model's context window: a longer prompt fails its call at once
        self._pending: list[_Request] = []
        self._changed = threading.Condition()
        self._scheduled = False  # whether the decoding thread has this server's queue to serve

    def generate(
        self,
        adapter: str | None,
        prompts: list[Messages],
        n: int,
        sampling: Sampling,
        seeds: list[list[int]] | None = None,
    ) -> list[list[Generation]]:
        return self.submit(adapter, prompts, n, sampling, seeds).result()

    def submit(
        self,
        adapter: str | None,
        prompts: list[Messages],
        n: int,
        sampling: Sampling,
        seeds: list[list[int]] | None = None,
    ) -> Future:
        """Queue a request; its future holds `n` generations for each prompt (or the error). An
        event loop awaits it (asyncio.wrap_future) without holding a thread. `seeds` (per prompt,
        `n` each) give each sample a random stream of its own, so it comes out the same whatever
        decodes beside it."""
        if seeds is not None and [len(s) for s in seeds] != [n] * len(prompts):
            raise ValueError(f"seeds must be {n} per prompt for {len(prompts)} prompts")
        req = _Request(adapter, prompts, n, sampling, seeds)
        with self._changed:
            self._pending.append(req)
            self._changed.notify()
            if not self._scheduled:
                self._scheduled = True
                DECODING.run(self._serve)
        return req.outputs

    def _serve(self) -> None:
        """Decode until this server's queue is empty (on the decoding thread)."""
        while True:
            with self._changed:
                if not self._pending:
                    self._scheduled = False
                    return
                first = self._pending[0]
            if self.base.whole_batches:
                self._gather()
            owned: list[_Request] = []
            try:
                self._decode(first, owned)
            except BaseException as exc:  # noqa: BLE001 - handed to the requests that were waiting on it
                log.debug("the local model failed", exc_info=True)
                failure = model_failure(exc)
                log.warning("%s (%d request(s) failed)", failure, max(1, len(owned)))
                if not owned:  # it failed before taking any (an adapter that does not load): the first one
                    owned = self._take(first, self.max_sequences, owned)
                for r in owned:
                    if not r.outputs.done():
                        r.outputs.set_exception(failure)
                if not isinstance(exc, Exception):  # SystemExit and the like: fail all, hand it on
                    self._fail_pending(failure)
                    with self._changed:
                        self._scheduled = False
                    raise

    def _gather(self) -> None:
        """Before a whole batch starts, let the requests that are on their way arrive: the graph's
        queries ask within milliseconds of each other, and a batch that starts with the first alone
        makes the rest wait for all of it (on a GPU, two batches cost twice one)."""
        deadline = time.perf_counter() + _GATHER_MAX_S
        with self._changed:
            seen = -1
            while len(self._pending) != seen and sum(r.rows for r in self._pending) < self.max_sequences:
                seen = len(self._pending)
                left = deadline - time.perf_counter()
                if left <= 0:
                    return
                self._changed.wait(timeout=min(_GATHER_QUIET_S, left))

    def _fail_pending(self, failure: Exception) -> None:
        with self._changed:
            waiting, self._pending = self._pending, []
        for r in waiting:
            r.outputs.set_exception(failure)

    def _take(
        self, like: _Request, room: int, owned: list[_Request], same_n: bool = False, tokens_used: int = 0
    ) -> list[_Request]:
        """The waiting requests that decode with `like` and fit in `room` rows and in the token budget
        beside the `tokens_used` of the rows decoding (the first one always does when nothing
        decodes). Into rows already decoding, none while the request that has waited longest decodes
        otherwise: the batch drains and that one goes next, rather than waiting as long as requests
        like the running ones keep coming. Each one taken joins `owned` before the lock is let go, so
        no failure can lose it."""
        taken: list[_Request] = []
        token_room = None if self.max_tokens is None else self.max_tokens - tokens_used
        with self._changed:
            if room < self.max_sequences and self._pending and not self._pending[0].decodes_with(like):
                return taken
            for r in list(self._pending):
                if not r.decodes_with(like) or (same_n and r.n != like.n):
                    continue
                if not self._admitted(r):
                    self._pending.remove(r)
                    continue
                fits = r.rows <= room and (token_room is None or r.tokens <= token_room)
                if fits or (room == self.max_sequences and not tokens_used and not taken):
                    taken.append(r)
                    room -= r.rows
                    token_room = None if token_room is None else token_room - r.tokens
                    self._pending.remove(r)
                    owned.append(r)
        return taken

    def _admitted(self, r: _Request) -> bool:
        """Measure `r` (here, on the decoding thread: a tokenizer is not safe to use from two threads
        at once, and the decoding thread pads with it); a prompt past the context window fails its
        request at once, without taking a row."""
        if self.measure is None or r.longest:
            return True
        r.longest = max(self.measure(r.prompts), default=0)
        if self.context is None or r.longest + r.sampling.max_new_tokens <= self.context:
            return True
        r.outputs.set_exception(
            ModelCallError(
                f"the prompt is {r.longest:,} tokens and {r.sampling.max_new_tokens:,} new ones are asked: "
                f"past the model's context window ({self.context:,} tokens)"
            )
        )
        return False

    def _decode(self, like: _Request, owned: list[_Request]) -> None:
        """Decode `like`'s requests, taking in those that arrive meanwhile, until none is left."""
        with self.base.lock, self.base.generating(like.adapter):
            if self.base.whole_batches:  # generate (or vLLM), which takes whole batches of one n
                self._whole_batch(self._take(like, self.max_sequences, owned, same_n=True))
            else:
                self._continuous(like, owned)

    def _whole_batch(self, group: list[_Request]) -> None:
        if not group:  # the one request there was is past the context window: already failed
            return
        outputs = self.base.run_batch_here(
            group[0].adapter, [p for r in group for p in r.prompts], group[0].n, group[0].sampling
        )
        at = 0
        for r in group:
            _answer(r.outputs, outputs[at : at + len(r.prompts)])
            at += len(r.prompts)

    def _continuous(self, like: _Request, owned: list[_Request]) -> None:
        from .decoding import Decoding  # torch and transformers: with the first local model, not at import

        base = self.base
        batch = Decoding(base.model, like.sampling, base.stop_ids)
        live: list[_Request] = []
        while True:
            taken = self._take(like, self.max_sequences - batch.rows, owned, tokens_used=sum(r.tokens for r in live))
            # one prefill for the requests of each k and length budget
            for k, budget in sorted({(r.per_prompt, r.sampling.max_new_tokens) for r in taken}):
                group = [r for r in taken if (r.per_prompt, r.sampling.max_new_tokens) == (k, budget)]
                enc = base.encode([p for r in group for p in r.prompts])
                seeds = [seed for r in group for seed in r.row_seeds()]
                slots = batch.add(enc["input_ids"], enc["attention_mask"], k, seeds, max_new_tokens=budget)
                lengths = enc["attention_mask"].sum(dim=1).tolist()
                at, start = 0, time.perf_counter()
                for r in group:
                    end = at + len(r.prompts)
                    r.lengths, r.slots, r.start = lengths[at:end], slots[at * k : end * k], start
                    live.append(r)
                    at = end
            if not batch.rows:
                return
            batch.step()
            for r in [r for r in live if all(batch.done[i] for i in r.slots)]:
                rows = [batch.out[i] for i in r.slots]
                scores = [batch.logprobs[i] for i in r.slots] if like.sampling.logprobs else None
                seconds = time.perf_counter() - r.start
                done = base.generations(rows, r.lengths, r.n, r.per_prompt, seconds, scores)
                live.remove(r)
                _answer(r.outputs, done)


def _answer(outputs: Future, generations: Any) -> None:
    """Hand a request its generations, unless its caller gave up on it meanwhile (a job that stops
    cancels what it waits for): that is no failure of the model, nor of the requests decoded beside it."""
    try:
        outputs.set_result(generations)
    except InvalidStateError:
        if not outputs.cancelled():
            raise


_GATHER_QUIET_S = 0.005  # a whole batch starts once no request has arrived for this long...
_GATHER_MAX_S = 0.05  # ...or after this long at most


def model_failure(exc: BaseException) -> ModelCallError | ModelSpecError:
    """What the calls a failed forward was serving end with: one line naming the error's kind (a
    CUDA error, an out-of-memory, a bug in the model's code), stored as each call's error."""
    if isinstance(exc, (ModelCallError, ModelSpecError)):
        return exc
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ModelCallError(f"local model failed: {type(exc).__name__}: {first}"[:500])
