"""Making a node's model calls: reuse what the store has, batch the rest into one generate."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cowest.graph.state import Step

from .models import Generation, Messages, ModelCallError, ModelSpec, RequestPolicy, Sampling, get_model
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
    """What one job's model requests did: calls made by role, and the run of consecutive failures
    per model that stops a job against a dead API. Nodes of many queries
    update it from their worker threads."""

    def __init__(self, max_failures: int = 0) -> None:
        self.max_failures = max_failures  # 0: never stop
        self._made: Counter[str] = Counter()
        self._in_a_row: Counter[str] = Counter()  # by model: a dead API fails every call to it
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def add(self, role: str, n: int) -> None:
        with self._lock:
            self._made[role] += n

    def outcome(self, model: str, error: str | None) -> None:
        with self._lock:
            if error is None:
                self._in_a_row[model] = 0
                return
            self._in_a_row[model] += 1
            self.last_error = error

    @property
    def consecutive_failures(self) -> int:
        """The longest current run of failed calls to one model."""
        with self._lock:
            return max(self._in_a_row.values(), default=0)

    @property
    def tripped(self) -> bool:
        """Too many failures in a row: the job should stop asking."""
        return bool(self.max_failures) and self.consecutive_failures >= self.max_failures

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {role: n for role, n in self._made.items() if n}


def error_kind(error: str) -> str:
    """The kind of an error message `spec: Kind: text` (or its start when it has no kind)."""
    parts = error.split(": ")
    return parts[1][:60] if len(parts) > 2 else error[:60]


_tally: ContextVar[CallTally | None] = ContextVar("cowest_call_tally", default=None)


@contextmanager
def counting_calls(max_failures: int = 0) -> Iterator[CallTally]:
    """Count the model requests made inside this block (threads started with a copy of this
    context, as the runner's are, count too)."""
    tally = CallTally(max_failures)
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


def current_tally() -> CallTally | None:
    return _tally.get()


def _count(role: str, n: int) -> None:
    tally = _tally.get()
    if tally is not None:
        tally.add(role, n)


def _outcome(model: str, error: str | None) -> None:
    tally = _tally.get()
    if tally is not None:
        tally.outcome(model, error)


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
    results = _generate(spec, todo, sampling, parse, log.policy)
    _count(role, len(todo))
    if retry_sampling is not None:
        again = [j for j in todo if isinstance(results[j.index][2], InvalidOutput)]
        if again:
            results.update(_generate(spec, again, retry_sampling, parse, log.policy))
            _count(role, len(again))
    for job in todo:
        gen, fields, error = results[job.index]
        error_text = None if error is None else str(error)
        _outcome(str(spec), error_text)
        row = log.record(
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
        if row is not None:  # the stored row: ours, or the one another writer stored first
            steps[job.index] = step_from_call(job.index, row)
        else:
            steps[job.index] = Step(index=job.index, call_id=None, text=gen.text if gen else None, error=error_text)
            steps[job.index].update(fields)  # type: ignore[typeddict-item]
    return steps


def _generate(
    spec: ModelSpec, jobs: list[Job], sampling: Sampling, parse: Parse, policy: RequestPolicy
) -> dict[int, tuple[Generation | None, dict[str, Any], Exception | None]]:
    """Each job's generation or error, on its own: one failed request fails only its own jobs.
    Jobs sharing one prompt go out as one request: `n` samples, or a single greedy answer copied
    (greedy decoding gives the same text every time)."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(json.dumps(job.messages, sort_keys=True), []).append(job)
    prompts = [group[0].messages for group in groups.values()]
    counts = [1 if sampling.greedy else len(group) for group in groups.values()]
    try:
        outcomes = get_model(spec, policy=policy).generate_each(prompts, counts, sampling)
    except ModelCallError as exc:
        outcomes = [[exc] * n for n in counts]
    out: dict[int, tuple[Generation | None, dict[str, Any], Exception | None]] = {}
    for group, results in zip(groups.values(), outcomes):
        for k, job in enumerate(group):
            result = results[0] if sampling.greedy else results[k]
            if isinstance(result, Exception):
                out[job.index] = (None, {}, result)
                continue
            try:
                out[job.index] = (result, parse(result.text), None)
            except InvalidOutput as exc:
                out[job.index] = (result, {}, exc)
    return out
