"""The store's one write path for what every query writes: a node step's calls, and a query's pairs
and labelled drafts, as SQLAlchemy Core upserts (INSERT ... ON CONFLICT through SQLite's and
PostgreSQL's own insert constructs), each step in one transaction. Rows go in as dicts and come back
as CallRow tuples, through SQLAlchemy's type processing, so they read the same whoever wrote them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from .database import StoreError, safe_url
from .rows import PER_QUERY, ROW_COLUMNS, TABLE, find_by_keys, values_of
from .schema import CallRow, Example, Pair

# The databases cowest keeps traces in: both have INSERT ... ON CONFLICT ... RETURNING.
_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class StepWrites:
    """The lookup and insert of a node step's calls and the write of a query's pairs and labelled
    drafts, on one engine. Statements are built once: building one costs more than SQLite takes to
    run it."""

    def __init__(self, engine: Any, url: str):
        insert = _INSERTS.get(engine.dialect.name)
        if insert is None:
            raise StoreError(
                f"{safe_url(url)}: cowest keeps its traces in SQLite or PostgreSQL, not {engine.dialect.name}"
            )
        self.engine = engine
        self._calls = insert(TABLE).on_conflict_do_nothing(index_elements=["key"]).returning(*ROW_COLUMNS)
        kept = [c.name for c in TABLE.columns if c.name not in ("id", "key", "created_at")]
        self._overwrite = (
            update(TABLE)
            .where(TABLE.c.id == bindparam("pk"))
            .values({name: bindparam(name) for name in kept})
            .returning(*ROW_COLUMNS)
        )
        self._kept = kept
        self._pairs = _upsert(insert, Pair.__table__, "chosen_id", "rejected_id")
        self._examples = _upsert(insert, Example.__table__, "draft_id", "desirable", "delta")

    def find(self, keys: Sequence[str], contents: Sequence[str]) -> list[CallRow]:
        """The calls stored under these row keys, and the successful originals with these content keys."""
        with self.engine.connect() as conn:
            return find_by_keys(conn, list(keys), list(contents))

    def insert_calls(self, calls: list[dict[str, Any]], replaces: Callable[[Any, str | None], bool]) -> list[CallRow]:
        """Insert `calls` (every column's value: rows.values_of) in one transaction; each returned row
        is the one that now stands under its key: the new call, the one another writer stored first,
        or that one overwritten where `replaces(stored, new error)` says so."""
        with self.engine.begin() as conn:
            inserted = {row.key: CallRow(*row) for row in conn.execute(self._calls, calls)}
            taken = [call["key"] for call in calls if call["key"] not in inserted]
            stored = {row.key: row for row in find_by_keys(conn, taken, [])} if taken else {}
            out = []
            for call in calls:
                key = call["key"]
                if key not in inserted:  # stored before this step
                    existing = stored[key]
                    if replaces(existing, call["error"]):
                        values = {name: call[name] for name in self._kept}
                        existing = CallRow(*conn.execute(self._overwrite, {"pk": existing.id, **values}).one())
                    inserted[key] = existing  # the same key again in this step gets this row: the first stands
                out.append(inserted[key])
            return out

    def write_judged(self, ids: tuple[int, int, int], pairs: Sequence[Any], examples: Sequence[Any]) -> list[int]:
        """A query's pairs ((chosen, rejected) draft-call ids, in order) and labelled drafts (sample
        index, draft id, desirable, Δ) in one transaction, written over any stored under the same
        indices; the pair ids."""
        run_id, round, query_pk = ids
        where = dict(run_id=run_id, round=round, query_id=query_pk)
        pair_rows = [dict(where, idx=i, chosen_id=c, rejected_id=r) for i, (c, r) in enumerate(pairs)]
        example_rows = [dict(where, idx=i, draft_id=d, desirable=ok, delta=delta) for i, d, ok, delta in examples]
        with self.engine.begin() as conn:
            pair_ids: dict[int, int] = {}
            if pair_rows:
                rows = [values_of(Pair.__table__, row) for row in pair_rows]
                pair_ids = {idx: pk for pk, idx in conn.execute(self._pairs, rows)}
            if example_rows:
                conn.execute(self._examples, [values_of(Example.__table__, row) for row in example_rows])
        return [pair_ids[i] for i in range(len(pairs))]


def _upsert(insert: Any, table: Any, *changing: str) -> Any:
    """Write a per-query row over the one stored under the same idx; return its id."""
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=PER_QUERY, set_={name: stmt.excluded[name] for name in changing}
    ).returning(table.c.id, table.c.idx)
