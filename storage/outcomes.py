"""What was trained and evaluated from the trace: adapter rows (lineage) and evaluation results."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from .schema import Adapter, EvalResult


class OutcomeRecords:
    """Adapters and evaluation results; a part of TraceStore (store.py), which opens the database."""

    session: Any  # sessionmaker, set by TraceStore
    _lock: threading.Lock

    # -- adapters -------------------------------------------------------------------------------
    def save_adapter(self, adapter: Adapter) -> Adapter:
        """Insert or replace the adapter row of (run, round, kind); an SFT adapter, which belongs to
        no run, is replaced only by one saved at the same path."""
        same: tuple[Any, ...]
        if adapter.kind == "sft":
            same = (Adapter.kind == "sft", Adapter.path == adapter.path)
        else:
            same = (Adapter.run_id == adapter.run_id, Adapter.round == adapter.round, Adapter.kind == adapter.kind)
        return self._replace(adapter, *same)

    def adapter(self, run_id: int | None, round: int, kind: str = "dpo") -> Adapter | None:
        """The adapter round `round` of a run trained with objective `kind` (dpo or kto)."""
        with self.session() as s:
            return s.scalar(
                select(Adapter).where(Adapter.run_id == run_id, Adapter.round == round, Adapter.kind == kind)
            )

    def adapter_by_path(self, path: str) -> Adapter | None:
        with self.session() as s:
            return s.scalar(select(Adapter).where(Adapter.path == path).order_by(Adapter.id.desc()))

    def adapters_of(self, run_id: int | None) -> list[Adapter]:
        """A run's adapters by round; `None` gives the SFT adapters, which belong to no run."""
        with self.session() as s:
            return list(s.scalars(select(Adapter).where(Adapter.run_id == run_id).order_by(Adapter.round, Adapter.id)))

    # -- evaluation results -----------------------------------------------------------------------
    def save_eval(self, row: EvalResult) -> EvalResult:
        """Insert or replace the result of (run, method, data, n, adapter)."""
        return self._replace(
            row,
            EvalResult.run_id == row.run_id,
            EvalResult.method == row.method,
            EvalResult.data_hash == row.data_hash,
            EvalResult.n == row.n,
            EvalResult.adapter == row.adapter,
        )

    def _replace(self, row, *same):
        """Insert `row` in place of the row matching `same` (its id is kept, so references hold)."""
        model = type(row)
        with self._lock, self.session() as s:
            old = s.scalar(select(model).where(*same))
            if old is not None:
                row.id = old.id
                row = s.merge(row)
            else:
                s.add(row)
            s.commit()
            return row

    def evals(self, run_id: int | None = None) -> list[EvalResult]:
        with self.session() as s:
            q = select(EvalResult).order_by(EvalResult.id)
            if run_id is not None:
                q = q.where(EvalResult.run_id == run_id)
            return list(s.scalars(q))
