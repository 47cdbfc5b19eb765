"""Continuous batching of a local model's requests: one worker thread decodes every request that is
waiting, and a request that arrives while others decode joins them at the next step (as vLLM does)
instead of waiting for their whole batch to end. Requests decode together when their adapter and
sampling agree."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from .base import Generation, Messages, Sampling


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

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.n

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
    at once) from a worker thread that owns the model while it decodes."""

    def __init__(self, base: Any, max_sequences: int = 64):
        self.base = base
        self.max_sequences = max_sequences  # rows decoding at once; a larger request runs alone
        self._pending: list[_Request] = []
        self._changed = threading.Condition()
        self._worker: threading.Thread | None = None

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
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._serve, name="cowest-local-batches", daemon=True)
                self._worker.start()
            self._changed.notify()
        return req.outputs

    def _serve(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                first = self._pending[0]
            self._decode(first)

    def _take(self, like: _Request, room: int, same_n: bool = False) -> list[_Request]:
        """The waiting requests that decode with `like` and fit in `room` rows (the first one always
        does when the room is all there is). Into rows already decoding, none while the request
        that has waited longest decodes otherwise: the batch drains and that one goes next, rather
        than waiting as long as requests like the running ones keep coming."""
        taken: list[_Request] = []
        with self._changed:
            if room < self.max_sequences and self._pending and not self._pending[0].decodes_with(like):
                return taken
            for r in list(self._pending):
                if not r.decodes_with(like) or (same_n and r.n != like.n):
                    continue
                if r.rows <= room or (room == self.max_sequences and not taken):
                    taken.append(r)
                    room -= r.rows
                    self._pending.remove(r)
        return taken

    def _decode(self, like: _Request) -> None:
        """Decode `like`'s requests, taking in those that arrive meanwhile, until none is left."""
        live: list[_Request] = []
        try:
            with self.base.lock, self.base.generating(like.adapter):
                if self.base.compiled:  # transformers' generate, which takes whole batches of one n
                    live = self._take(like, self.max_sequences, same_n=True)
                    self._whole_batch(live)
                else:
                    self._continuous(like, live)
        except Exception as exc:  # every request decoding at that moment sees the failure
            for r in live or self._take(like, self.max_sequences):  # none yet: those that could not start
                if not r.outputs.done():
                    r.outputs.set_exception(exc)

    def _whole_batch(self, group: list[_Request]) -> None:
        outputs = self.base.run_batch_here(
            group[0].adapter, [p for r in group for p in r.prompts], group[0].n, group[0].sampling
        )
        at = 0
        for r in group:
            r.outputs.set_result(outputs[at : at + len(r.prompts)])
            at += len(r.prompts)

    def _continuous(self, like: _Request, live: list[_Request]) -> None:
        from .decoding import Decoding

        base = self.base
        batch = Decoding(base.model, like.sampling, base.stop_ids)
        while True:
            taken = self._take(like, self.max_sequences - batch.rows)
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
                r.outputs.set_result(done)
