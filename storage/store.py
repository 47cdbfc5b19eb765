"""The trace store: idempotent writes of runs, queries, calls, pairs and labelled drafts over any SQLAlchemy URL."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from .database import StoreError, as_store_url, missing_store, open_database, safe_url
from .outcomes import OutcomeRecords
from .reads import TraceReads
from .rows import TABLE, StoredCall, values_of
from .schema import Call, CallRow, Query, Run
from .writes import StepWrites

# Built once (every query runs it): building an UPDATE costs twice what SQLite takes to run it.
_SET_ERROR = (
    update(Query)
    .where(Query.id == bindparam("query_pk"), Query.error.is_distinct_from(bindparam("why")))
    .values(error=bindparam("why"))
)

ExampleRow = tuple[int, int, bool, float]  # sample index, draft call id, desirable, Δ


class TraceStore(TraceReads, OutcomeRecords):
    """A run's trace (runs, queries, calls, pairs, labelled drafts), its listings (TraceReads) and,
    through OutcomeRecords, what was trained and evaluated from it."""

    def __init__(self, url: str):
        self.url = url
        self.engine = open_database(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)
        self._lock = threading.Lock()  # serialises get-or-create races inside one process
        self._writes = StepWrites(self.engine, url)  # what every query writes

    # -- runs and queries ------------------------------------------------------------------------
    def ensure_run(self, name: str, task: str, data_path: str | None = None, config: dict | None = None) -> int:
        run = self._get_or_insert(
            select(Run).where(Run.name == name),
            lambda: Run(name=name, task=task, data_path=data_path, config=config or {}),
        )
        if run.task != task:
            raise StoreError(f"run {name!r} is a {run.task} run; pick another --run name for {task}")
        return run.id

    def run_id(self, name: str) -> int:
        with self.session() as s:
            rid = s.scalar(select(Run.id).where(Run.name == name))
        if rid is None:
            raise StoreError(f"no run named {name!r} in {safe_url(self.url)} (see `cowest runs`)")
        return rid

    def ensure_query(self, run_id: int, qid: str, query: str, gold: str | None, line: int | None = None) -> int:
        row = self._get_or_insert(
            select(Query).where(Query.run_id == run_id, Query.qid == qid),
            lambda: Query(run_id=run_id, qid=qid, query=query, gold=gold, line=line),
        )
        return row.id

    def ensure_queries(self, run_id: int, rows: Sequence[tuple[str, str, str | None, int | None]]) -> dict[str, int]:
        """`ensure_query` for many (qid, query, gold, line) rows in one transaction; returns qid -> pk
        of every query of the run."""
        of_run = select(Query.qid, Query.id).where(Query.run_id == run_id)
        for _attempt in range(3):
            with self._lock, self.session() as s:
                stored = dict(s.execute(of_run).tuples().all())
                new = [dict(run_id=run_id, qid=q, query=t, gold=g, line=n) for q, t, g, n in rows if q not in stored]
                if not new:
                    return stored
                try:
                    s.execute(insert(Query), new)  # as plain rows: an ORM object each cost more than the insert
                    s.commit()
                except IntegrityError:  # another process inserted some meanwhile: read them again
                    s.rollback()
                    continue
                return dict(s.execute(of_run).tuples().all())
        raise StoreError(f"queries of run {run_id}: inserts kept racing with another writer")

    def _get_or_insert(self, query: Any, make: Any) -> Any:
        """The row `query` selects, inserted from `make()` when missing. Safe across processes: the
        loser of an insert race reads the winner's row."""
        with self._lock, self.session() as s:
            row = s.scalar(query)
            if row is not None:
                return row
            row = make()
            s.add(row)
            try:
                s.commit()
                return row
            except IntegrityError:
                s.rollback()
                return s.scalars(query).one()

    def set_query_error(self, query_pk: int, error: str | None) -> None:
        """Record why the query failed (None: it did not)."""
        with self.engine.begin() as conn:
            conn.execute(_SET_ERROR, dict(query_pk=query_pk, why=error))

    # -- calls ----------------------------------------------------------------------------------
    def find_calls(self, keys: Iterable[str]) -> dict[str, CallRow]:
        keys = list(keys)
        if not keys:
            return {}
        return {c.key: c for c in self._writes.find(keys, [])}

    def find_for_jobs(
        self, keys: list[str], content_keys: list[str]
    ) -> tuple[dict[str, StoredCall], dict[str, StoredCall]]:
        """In one query: the calls stored under these row keys, and a successful original for each
        of these content keys that has one (a call that is itself a copy or failed serves no one)."""
        if not keys and not content_keys:
            return {}, {}
        rows = self._writes.find(keys, content_keys)
        wanted_keys, wanted_contents = set(keys), set(content_keys)
        own: dict[str, StoredCall] = {c.key: c for c in rows if c.key in wanted_keys}
        by_content: dict[str, StoredCall] = {}
        for c in rows:
            if c.content_key in wanted_contents and c.error is None and c.reused_from is None:
                by_content.setdefault(c.content_key, c)
        return own, by_content

    def spent(self, run_id: int | None) -> tuple[int, int]:
        """The strong and LLM-judge requests a run has sent itself, and their tokens."""
        if run_id is None:
            return 0, 0
        with self.session() as s:
            calls, tokens = s.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(func.coalesce(Call.tokens_in, 0) + func.coalesce(Call.tokens_out, 0)), 0),
                ).where(Call.run_id == run_id, Call.billed.is_(True), Call.reused_from.is_(None))
            ).one()
        return int(calls), int(tokens)

    def token_averages(self) -> dict[tuple[str, str], tuple[float, float]]:
        """Mean input and output tokens of sent successful calls, by (role, model)."""
        with self.session() as s:
            rows = s.execute(
                select(Call.role, Call.model, func.avg(Call.tokens_in), func.avg(Call.tokens_out))
                .where(Call.error.is_(None), Call.reused_from.is_(None), Call.tokens_out.is_not(None))
                .group_by(Call.role, Call.model)
            ).all()
        return {(role, model): (float(t_in or 0), float(t_out or 0)) for role, model, t_in, t_out in rows}

    def save_calls(self, calls: list[dict[str, Any]]) -> list[CallRow]:
        """Store the calls of one node step (each a dict of column values) in one transaction; each
        returned row is the one that now stands under its key, which the caller must go on with. A
        stored success is never overwritten (a writer that loses a race gets the winner's row); a
        stored error is replaced (a retry)."""
        rows = [values_of(TABLE, fields) for fields in calls]
        with self._lock:
            return self._writes.insert_calls(rows, _replaces)

    # -- pairs and examples ---------------------------------------------------------------------
    def save_judged(
        self,
        run_id: int,
        round: int,
        query_pk: int,
        pairs: Sequence[tuple[int, int]] = (),
        examples: Sequence[ExampleRow] = (),
    ) -> list[int]:
        """Record, in one transaction, one query's pairs ((chosen, rejected) draft-call ids, in
        Algorithm 1's order) and its labelled drafts; returns the pair ids. Rewriting them changes
        nothing, and two processes writing them at once leave one set."""
        with self._lock:
            return self._writes.write_judged((run_id, round, query_pk), pairs, examples)

    def save_pairs(self, run_id: int, round: int, query_pk: int, pairs: list[tuple[int, int]]) -> list[int]:
        return self.save_judged(run_id, round, query_pk, pairs=pairs)

    def save_examples(self, run_id: int, round: int, query_pk: int, examples: list[ExampleRow]) -> None:
        self.save_judged(run_id, round, query_pk, examples=examples)


def _replaces(stored: StoredCall, new_error: str | None) -> bool:
    """Whether a new call (that failed with `new_error`, or None) may take the place of `stored`
    under the same key."""
    if stored.error is None and new_error is not None:
        return False  # a failure never hides a success
    return stored.error is not None


_stores: dict[str, TraceStore] = {}
_stores_lock = threading.Lock()


def get_store(url: str, must_exist: bool = False) -> TraceStore:
    """One TraceStore per URL per process. With `must_exist` (commands that only read), a SQLite
    file that is not there is one line of bad input rather than a new, empty store."""
    url = as_store_url(url)
    missing = missing_store(url) if must_exist else None
    if missing is not None:
        raise StoreError(f"{missing}: no such store (check --db or $COWEST_DB; collect, rounds and eval create one)")
    with _stores_lock:
        if url not in _stores:
            _stores[url] = TraceStore(url)
        return _stores[url]
