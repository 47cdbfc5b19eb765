"""Reading a run's trace back: its calls, pairs, queries and labelled drafts, and the counts
`cowest runs` shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from .schema import Call, Example, Pair, Query, Run


@dataclass
class RunCounts:
    name: str
    task: str
    queries: int
    calls: int
    pairs: int
    failures: int
    rounds: list[int]


class TraceReads:
    """The read-only listings of the trace; a part of TraceStore (store.py), which opens the database."""

    session: Any  # sessionmaker, set by TraceStore

    def examples_of(self, run_id: int, round: int | None = None) -> list[Example]:
        return self._of(Example, run_id, round)

    def calls_by_id(self, ids) -> dict[int, Call]:
        ids = [i for i in ids if i is not None]
        if not ids:
            return {}
        with self.session() as s:
            return {c.id: c for c in s.scalars(select(Call).where(Call.id.in_(ids)))}

    def runs(self) -> list[Run]:
        with self.session() as s:
            return list(s.scalars(select(Run).order_by(Run.id)))

    def run_counts(self) -> list[RunCounts]:
        out = []
        with self.session() as s:
            for run in s.scalars(select(Run).order_by(Run.id)):
                n_calls = _count(s, select(func.count()).select_from(Call).where(Call.run_id == run.id))
                failed_calls = _count(
                    s, select(func.count()).select_from(Call).where(Call.run_id == run.id, Call.error.is_not(None))
                )
                failed_queries = _count(
                    s, select(func.count()).select_from(Query).where(Query.run_id == run.id, Query.error.is_not(None))
                )
                rounds = sorted(s.scalars(select(Call.round).where(Call.run_id == run.id).distinct()))
                out.append(
                    RunCounts(
                        name=run.name,
                        task=run.task,
                        queries=_count(s, select(func.count()).select_from(Query).where(Query.run_id == run.id)),
                        calls=n_calls,
                        pairs=_count(s, select(func.count()).select_from(Pair).where(Pair.run_id == run.id)),
                        failures=failed_calls + failed_queries,
                        rounds=rounds,
                    )
                )
        return out

    def calls_of(self, run_id: int, round: int | None = None) -> list[Call]:
        return self._of(Call, run_id, round)

    def pairs_of(self, run_id: int, round: int | None = None) -> list[Pair]:
        return self._of(Pair, run_id, round)

    def queries_of(self, run_id: int) -> dict[int, Query]:
        with self.session() as s:
            return {q.id: q for q in s.scalars(select(Query).where(Query.run_id == run_id))}

    def count_calls(self) -> int:
        with self.session() as s:
            return _count(s, select(func.count()).select_from(Call))

    def _of(self, table: Any, run_id: int, round: int | None) -> list[Any]:
        """A run's rows of `table` (of one round, or all), in the order they were written."""
        with self.session() as s:
            q = select(table).where(table.run_id == run_id)
            if round is not None:
                q = q.where(table.round == round)
            return list(s.scalars(q.order_by(table.id)))


def _count(session: Any, query: Any) -> int:
    return int(session.scalar(query) or 0)
