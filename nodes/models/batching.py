"""Continuous batching of a local model's requests: one worker thread decodes every request that is
waiting, and a request that arrives while others decode joins them at the next step (as vLLM does)
instead of waiting for their whole batch to end. Requests decode together when their adapter and
sampling agree."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .base import Generation, Messages, Sampling


@dataclass
class _Request:
    adapter: str | None
    prompts: list[Messages]
    n: int
    sampling: Sampling
    result: list[list[Generation]] | None = None
    error: Exception | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.n


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
        self, adapter: str | None, prompts: list[Messages], n: int, sampling: Sampling
    ) -> list[list[Generation]]:
        req = _Request(adapter, prompts, n, sampling)
        with self._changed:
            self._pending.append(req)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._serve, name="cowest-local-batches", daemon=True)
                self._worker.start()
            self._changed.notify()
        req.finished.wait()
        if req.error is not None:
            raise req.error
        assert req.result is not None  # finished without an error means a result
        return req.result

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
            oldest = self._pending[0] if self._pending else None
            if (
                room < self.max_sequences
                and oldest
                and (oldest.adapter, oldest.sampling) != (like.adapter, like.sampling)
            ):
                return taken
            for r in list(self._pending):
                if (r.adapter, r.sampling) != (like.adapter, like.sampling) or (same_n and r.n != like.n):
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
                r.error = exc
                r.finished.set()

    def _whole_batch(self, group: list[_Request]) -> None:
        outputs = self.base.run_batch_here(
            group[0].adapter, [p for r in group for p in r.prompts], group[0].n, group[0].sampling
        )
        at = 0
        for r in group:
            r.result = outputs[at : at + len(r.prompts)]
            at += len(r.prompts)
            r.finished.set()

    def _continuous(self, like: _Request, live: list[_Request]) -> None:
        from .decoding import Decoding

        base, sampling = self.base, like.sampling
        batch = Decoding(base.model, sampling, base.stop_ids)
        joined: dict[int, tuple[list[int], range, float]] = {}  # per request: prompt lengths, rows, start
        while True:
            taken = self._take(like, self.max_sequences - batch.rows)
            for k in sorted({self._per_prompt(r) for r in taken}):  # one prefill for the requests of each k
                group = [r for r in taken if self._per_prompt(r) == k]
                enc = base.encode([p for r in group for p in r.prompts])
                slots = batch.add(enc["input_ids"], enc["attention_mask"], k)
                lengths = enc["attention_mask"].sum(dim=1).tolist()
                at, start = 0, time.perf_counter()
                for r in group:
                    end = at + len(r.prompts)
                    joined[id(r)] = (lengths[at:end], slots[at * k : end * k], start)
                    live.append(r)
                    at = end
            if not batch.rows:
                return
            batch.step()
            for r in [r for r in live if all(batch.done[i] for i in joined[id(r)][1])]:
                lengths, slots, start = joined.pop(id(r))
                rows = [batch.out[i] for i in slots]
                r.result = base.generations(rows, lengths, r.n, self._per_prompt(r), time.perf_counter() - start)
                live.remove(r)
                r.finished.set()

    @staticmethod
    def _per_prompt(r: _Request) -> int:
        return 1 if r.sampling.greedy else r.n  # greedy: n equal sequences, decoded once
