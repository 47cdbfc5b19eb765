"""Making a node's model calls: reuse what the store has, batch the rest into one generate."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cowest.graph.state import Step

from .models import Generation, Messages, ModelCallError, ModelSpec, Sampling, get_model
from .recording import CallLog, step_from_call


class InvalidOutput(ValueError):
    """An output that breaks its contract (a judgment that is not an integer 1-10)."""


@dataclass
class Job:
    index: int  # sample index of the output this call produces
    key: str
    messages: Messages
    parent_id: int | None = None


class CallTally:
    """Model requests made by one job, by role: what "a rerun makes no new calls" is checked
    against. Nodes of many queries update it from their worker threads."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, role: str, n: int) -> None:
        with self._lock:
            self._counts[role] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {role: n for role, n in self._counts.items() if n}


_tally: ContextVar[CallTally | None] = ContextVar("cowest_call_tally", default=None)


@contextmanager
def counting_calls() -> Iterator[CallTally]:
    """Count the model requests made inside this block (threads started with a copy of this
    context, as the runner's are, count too)."""
    tally = CallTally()
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


def _count(role: str, n: int) -> None:
    tally = _tally.get()
    if tally is not None:
        tally.add(role, n)


Parse = Callable[[str], dict[str, Any]]  # output text -> fields to record ({"answer": ...} or {"score": ...})


def run_jobs(
    log: CallLog,
    role: str,
    spec: ModelSpec,
    jobs: list[Job],
    sampling: Sampling,
    parse: Parse,
    retry_sampling: Sampling | None = None,
) -> dict[int, Step]:
    """Steps for `jobs`, by index. Stored calls are reused; the others go to the model in one
    batched call (jobs sharing one prompt become `n` samples of it), and each is recorded. An output
    that `parse` rejects is asked for once more with `retry_sampling`, then recorded as an error."""
    found = log.lookup([j.key for j in jobs])
    # A stored call counts only if it was asked the same prompt: changed prompts (a new version, a
    # new task framing) are asked again, and the row is overwritten under the same key.
    reusable = {j.key for j in jobs if j.key in found and found[j.key].prompt == j.messages}
    steps = {j.index: step_from_call(j.index, found[j.key]) for j in jobs if j.key in reusable}
    todo = [j for j in jobs if j.key not in reusable]
    if not todo:
        return steps
    results = _generate(spec, todo, sampling, parse)
    _count(role, len(todo))
    if retry_sampling is not None:
        again = [j for j in todo if isinstance(results[j.index][2], InvalidOutput)]
        if again:
            results.update(_generate(spec, again, retry_sampling, parse))
            _count(role, len(again))
    for job in todo:
        gen, fields, error = results[job.index]
        error_text = None if error is None else str(error)
        call_id = log.record(
            job.key,
            role=role,
            sample_index=job.index,
            parent_id=job.parent_id,
            model=str(spec.with_adapter(None)),
            adapter=spec.adapter,
            prompt=job.messages,
            output=gen.text if gen else None,
            error=error_text,
            tokens_in=gen.tokens_in if gen else None,
            tokens_out=gen.tokens_out if gen else None,
            latency_s=gen.latency_s if gen else None,
            **fields,
        )
        steps[job.index] = Step(index=job.index, call_id=call_id, text=gen.text if gen else None, error=error_text)
        steps[job.index].update(fields)  # type: ignore[typeddict-item]
    return steps


def _generate(
    spec: ModelSpec, jobs: list[Job], sampling: Sampling, parse: Parse
) -> dict[int, tuple[Generation | None, dict[str, Any], Exception | None]]:
    try:
        model = get_model(spec)
        if all(j.messages == jobs[0].messages for j in jobs):
            gens = model.generate([jobs[0].messages], n=len(jobs), sampling=sampling)[0]
        else:
            gens = [g[0] for g in model.generate([j.messages for j in jobs], n=1, sampling=sampling)]
    except ModelCallError as exc:
        return {j.index: (None, {}, exc) for j in jobs}
    out: dict[int, tuple[Generation | None, dict[str, Any], Exception | None]] = {}
    for job, gen in zip(jobs, gens):
        try:
            out[job.index] = (gen, parse(gen.text), None)
        except InvalidOutput as exc:
            out[job.index] = (gen, {}, exc)
    return out
