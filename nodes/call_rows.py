"""The rows a node step records: a call just made, or this run's copy of one the store holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cowest.models import Generation, ModelSpec

from .recording import Job

Parse = Callable[[str], dict[str, Any]]  # output text -> fields to record ({"answer": ...} or {"score": ...})
Result = tuple[Generation | None, dict[str, Any], Exception | None]


class InvalidOutput(ValueError):
    """An output that breaks its contract (a judgment that is not an integer 1-10)."""


def copy_of(source: Any, role: str, job: Job, parse: Parse, billed: bool) -> dict[str, Any]:
    """The row of this run's copy of a call the store already holds; the answer is parsed again,
    since this run's task decides how."""
    try:
        parsed = parse(source.output or "")
    except InvalidOutput:
        parsed = {"answer": source.answer, "score": source.score}
    return dict(
        key=job.key,
        content_key=job.content,
        reused_from=source.reused_from or source.id,
        billed=billed,
        role=role,
        sample_index=job.index,
        parent_id=job.parent_id,
        model=source.model,
        adapter=source.adapter,
        prompt=job.messages,
        output=source.output,
        tokens_in=source.tokens_in,
        tokens_out=source.tokens_out,
        logprobs=source.logprobs,
        **parsed,
    )


def fields_of(role: str, spec: ModelSpec, job: Job, result: Result, billed: bool) -> dict[str, Any]:
    """The row of a call just made."""
    gen, parsed, error = result
    return dict(
        key=job.key,
        content_key=job.content,
        billed=billed,
        role=role,
        sample_index=job.index,
        parent_id=job.parent_id,
        model=str(spec.with_adapter(None)),
        adapter=spec.adapter,
        prompt=job.messages,
        output=gen.text if gen else None,
        error=None if error is None else str(error),
        tokens_in=gen.tokens_in if gen else None,
        tokens_out=gen.tokens_out if gen else None,
        latency_s=gen.latency_s if gen else None,
        logprobs=gen.logprobs if gen else None,
        **parsed,
    )
