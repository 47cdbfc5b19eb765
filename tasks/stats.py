"""n, 95% intervals and paired tests for the task metrics, over per-query records.

A metric is a statistic of its queries, so its uncertainty is that of the queries drawn: the
interval of a proportion (accuracy, exact match) is Wilson's; that of F1 and macro-F1 is a
percentile bootstrap over queries (scipy.stats.bootstrap, seeded). Two evaluations of the same
queries are compared *paired*: the difference's interval comes from resampling queries once for
both, and for the proportions the exact McNemar test (a binomial test on the discordant queries)
says how often a difference as large would arise by chance.

A per-query record is what `per_query_records` makes of a scored evaluation (and what the store
keeps): `{"id", "answer"}` plus, for QA tasks, `exact_match` and `f1` of that query, and for
label tasks its `gold` label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .metrics import exact_match, token_f1

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0
# The metric a proportion test applies to, per task kind (the others are bootstrapped only).
PROPORTIONS = ("accuracy", "exact_match")


class IncomparableEvaluations(ValueError):
    """Two evaluations that do not cover the same queries: no paired comparison exists."""


@dataclass(frozen=True)
class Interval:
    """A metric's value on n queries and its 95% interval."""

    value: float
    low: float
    high: float
    n: int
    method: str  # wilson | bootstrap

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference:
    """`b - a` on the same n queries, with its paired-bootstrap 95% interval; for a proportion,
    the discordant counts and the exact McNemar p-value."""

    metric: str
    a: float
    b: float
    diff: float
    low: float
    high: float
    n: int
    b_only: int | None = None  # queries b gets right and a gets wrong
    a_only: int | None = None
    p_value: float | None = None

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        text = f"{self.diff:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"
        if self.p_value is not None:
            text += f" McNemar p={self.p_value:.3g} ({self.b_only} vs {self.a_only} discordant)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_query_records(task: Any, examples: Sequence[Any], answers: Sequence[str | None]) -> list[dict[str, Any]]:
    """One record per query: its id, the parsed answer, and what its metrics need."""
    records = []
    for ex, answer in zip(examples, answers):
        record: dict[str, Any] = {"id": ex.id, "answer": answer}
        if task.labels:
            record["gold"] = ex.answers[0]
        else:
            record.update(exact_match=exact_match(answer, ex.answers), f1=token_f1(answer, ex.answers))
        records.append(record)
    return records


class QueryScores:
    """Per-query records as arrays, and each metric as a function of resampled query indices."""

    def __init__(self, records: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None):
        self.ids = [str(r["id"]) for r in records]
        self.labels = tuple(labels) if labels else None
        if self.labels:
            index = {label: i for i, label in enumerate(self.labels)}
            self.gold = np.array([index.get(r["gold"], -1) for r in records])
            self.pred = np.array([index.get(r["answer"], -1) if r["answer"] is not None else -1 for r in records])
            self.columns = {"accuracy": (self.gold == self.pred).astype(float)}
        else:
            self.columns = {name: np.array([float(r[name]) for r in records]) for name in ("exact_match", "f1")}

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("accuracy", "macro_f1") if self.labels else ("exact_match", "f1")

    def value(self, metric: str, idx: np.ndarray | None = None) -> np.ndarray:
        """The metric over the queries `idx` (any leading shape: one value per row of indices)."""
        idx = np.arange(self.n) if idx is None else idx
        if metric == "macro_f1":
            return self._macro_f1(idx)
        return self.columns[metric][idx].mean(axis=-1)

    def _macro_f1(self, idx: np.ndarray) -> np.ndarray:
        """sklearn's f1_score(labels=LABELS, average="macro") on each row of indices (an
        unparseable answer, -1, is a miss for its true class and counts for no class)."""
        assert self.labels is not None
        gold, pred = self.gold[idx], self.pred[idx]
        scores = []
        for label in range(len(self.labels)):
            tp = ((gold == label) & (pred == label)).sum(axis=-1)
            fp = ((gold != label) & (pred == label)).sum(axis=-1)
            fn = ((gold == label) & (pred != label)).sum(axis=-1)
            denominator = 2 * tp + fp + fn
            scores.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
        return np.mean(scores, axis=0)

    def interval(self, metric: str, seed: int = SEED) -> Interval:
        value = float(self.value(metric))
        if metric in PROPORTIONS:
            return proportion(int(round(value * self.n)), self.n)
        low, high = _bootstrap(self.n, lambda idx: self.value(metric, idx), seed)
        return Interval(value, low, high, self.n, "bootstrap")

    def intervals(self, seed: int = SEED) -> dict[str, Interval]:
        return {m: self.interval(m, seed) for m in self.metrics}


def proportion(hits: int, n: int) -> Interval:
    """`hits / n` with Wilson's 95% score interval (the whole of [0, 1] when n is 0)."""
    if n == 0:
        return Interval(0.0, 0.0, 1.0, 0, "wilson")
    from scipy.stats import binomtest

    ci = binomtest(hits, n).proportion_ci(CONFIDENCE, method="wilson")
    return Interval(hits / n, float(ci.low), float(ci.high), n, "wilson")


def paired(a: QueryScores, b: QueryScores, metric: str, seed: int = SEED) -> PairedDifference:
    """`b - a` on the same queries (b's records reordered to a's ids)."""
    b = aligned(a, b)
    diff = float(b.value(metric) - a.value(metric))
    low, high = _bootstrap(a.n, lambda idx: b.value(metric, idx) - a.value(metric, idx), seed)
    result = PairedDifference(metric, float(a.value(metric)), float(b.value(metric)), diff, low, high, a.n)
    if metric not in PROPORTIONS:
        return result
    from dataclasses import replace

    from scipy.stats import binomtest

    right_a, right_b = a.columns[metric] == 1, b.columns[metric] == 1
    b_only, a_only = int((right_b & ~right_a).sum()), int((right_a & ~right_b).sum())
    p = 1.0 if b_only + a_only == 0 else float(binomtest(b_only, b_only + a_only, 0.5).pvalue)
    return replace(result, b_only=b_only, a_only=a_only, p_value=p)


def paired_all(a: QueryScores, b: QueryScores, seed: int = SEED) -> dict[str, PairedDifference]:
    return {m: paired(a, b, m, seed) for m in a.metrics}


def aligned(a: QueryScores, b: QueryScores) -> QueryScores:
    """`b` with its queries in `a`'s order; IncomparableEvaluations naming the difference when
    the two do not cover the same queries."""
    if a.labels != b.labels:
        raise IncomparableEvaluations("the two evaluations are of different tasks")
    only_a, only_b = set(a.ids) - set(b.ids), set(b.ids) - set(a.ids)
    if only_a or only_b or len(a.ids) != len(b.ids):
        first = sorted(only_a)[:3] or sorted(only_b)[:3]
        raise IncomparableEvaluations(
            f"different query sets: {len(only_a)} queries only in the first, {len(only_b)} only in the second "
            f"(n {a.n} vs {b.n}; e.g. {', '.join(first) or 'repeated ids'})"
        )
    if a.ids == b.ids:
        return b
    order = {qid: i for i, qid in enumerate(b.ids)}
    pick = np.array([order[qid] for qid in a.ids])
    out = QueryScores.__new__(QueryScores)
    out.ids, out.labels = list(a.ids), b.labels
    out.columns = {name: col[pick] for name, col in b.columns.items()}
    if b.labels:
        out.gold, out.pred = b.gold[pick], b.pred[pick]
    return out


def _bootstrap(n: int, statistic: Any, seed: int) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of `statistic(query indices)` over queries."""
    if n < 2:  # nothing to resample: the interval is the value itself
        value = float(statistic(np.arange(n))) if n else 0.0
        return value, value
    from scipy.stats import bootstrap

    result = bootstrap(
        (np.arange(n),),
        lambda idx, axis=-1: statistic(np.asarray(idx, dtype=int)),
        vectorized=True,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
