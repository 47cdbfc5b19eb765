"""Evidence from stored evaluations: each metric with its n and 95% interval, and paired comparisons
of two evaluations of the same queries (`cowest compare`, `eval --against`, the rounds' held-out
curve, the report). The statistics themselves are tasks/stats.py."""

from __future__ import annotations

from typing import Any

from cowest.core import BadInput
from cowest.storage import EvalResult, TraceStore
from cowest.tasks import get_task
from cowest.tasks.stats import (
    IncomparableEvaluations,
    Interval,
    PairedDifference,
    QueryScores,
    paired_all,
)


def scores_of(result: EvalResult) -> QueryScores:
    """An evaluation's per-query records as arrays; BadInput for a row stored before they were kept."""
    if not result.per_query:
        raise BadInput(
            f"evaluation {result.id} ({result.method}) has no per-query records (stored by an older cowest): "
            "rerun the same `cowest eval` (its calls are reused) to compare it"
        )
    labels = (result.metrics or {}).get("labels") or get_task(result.task).labels
    return QueryScores(result.per_query, labels)


def intervals_of(result: EvalResult) -> dict[str, Interval]:
    """The metric intervals stored with an evaluation (computed again for a row that has records)."""
    stored = (result.metrics or {}).get("intervals")
    if stored:
        return {name: Interval(**value) for name, value in stored.items()}
    return scores_of(result).intervals() if result.per_query else {}


def compare(a: EvalResult, b: EvalResult) -> dict[str, PairedDifference]:
    """`b - a` for each metric, paired over their common queries; BadInput when the query sets differ."""
    if a.task != b.task:
        raise BadInput(f"cannot compare {a.method} on {a.task} with {b.method} on {b.task}: different tasks")
    try:
        return paired_all(scores_of(a), scores_of(b))
    except IncomparableEvaluations as exc:
        raise BadInput(f"cannot compare evaluation {a.id} ({a.method}) with {b.id} ({b.method}): {exc}") from None


def find_eval(store: TraceStore, ref: str, run: str | None = None) -> EvalResult:
    """An evaluation by id, or the newest one of a method label: `collab` (without an adapter) or
    `collab@ADAPTER_DIR`."""
    evals = store.evals(store.run_id(run) if run else None)
    if ref.isdigit():
        found = [e for e in evals if e.id == int(ref)]
    else:
        method, _, adapter = ref.partition("@")
        found = [
            e for e in evals if e.method == method and (_same_path(e.adapter, adapter) if adapter else not e.adapter)
        ]
    if not found:
        known = ", ".join(sorted({f"{e.id}:{e.method}" for e in evals})[:12]) or "none"
        raise BadInput(f"no evaluation {ref!r}{f' in run {run}' if run else ''}; stored: {known}")
    return found[-1]


def _same_path(stored: str, given: str) -> bool:
    from pathlib import Path

    return bool(stored) and Path(stored).resolve() == Path(given).resolve()


def interval_cells(result: EvalResult, metric: str) -> str:
    """`0.450 [0.310, 0.590]`, or the bare value for a row stored without its records."""
    interval = intervals_of(result).get(metric)
    value = (result.metrics or {}).get(metric)
    if interval is not None:
        return str(interval)
    return "-" if value is None else f"{value:.3f}"


def comparison_json(a: EvalResult, b: EvalResult, diffs: dict[str, PairedDifference]) -> dict[str, Any]:
    return {
        "a": {"id": a.id, "method": a.method, "adapter": a.adapter},
        "b": {"id": b.id, "method": b.method, "adapter": b.adapter},
        "n": a.n,
        "differences": {name: d.as_dict() for name, d in diffs.items()},
    }
