"""The statements every query runs, a node step's lookup and insert of calls and the query's pairs
and labelled drafts, in SQL written once per store and run on the database driver's own cursor
(SQLite and PostgreSQL). Through SQLAlchemy each cost about 0.1-0.3 ms of CPU more than the
statement itself on SQLite, a fifth of a query's orchestration (bench/RESULTS.md). Values go in and
come out through the type processors SQLAlchemy uses for these columns, so the rows are the same
whichever way they were written."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from .rows import PER_QUERY, ROW_COLUMNS, TABLE, values_of
from .schema import CallRow, Example, Pair


class DriverSQL:
    """A store's lookup and insert of calls and its writes of a query's pairs and labelled drafts;
    `for_engine` is None on a database other than SQLite and PostgreSQL (the store then goes
    through SQLAlchemy)."""

    def __init__(self, engine: Any):
        self.engine = engine
        dialect = engine.dialect
        quote = dialect.identifier_preparer.quote
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.table = quote(TABLE.name)
        self.names = {c.name: quote(c.name) for c in TABLE.columns}
        self.returned = ", ".join(self.names[c.name] for c in ROW_COLUMNS)
        self.dialect = dialect
        self.find_sql = lru_cache(maxsize=64)(self._find_sql)
        self.result_processors = lru_cache(maxsize=8)(self._result_processors)
        self.calls = _Insert(TABLE, dialect, self.mark, ["key"], f"DO NOTHING RETURNING {self.returned}")
        self.pairs = _Insert(Pair.__table__, dialect, self.mark, PER_QUERY, _update("chosen_id", "rejected_id"))
        self.examples = _Insert(
            Example.__table__, dialect, self.mark, PER_QUERY, _update("draft_id", "desirable", "delta")
        )

    @classmethod
    def for_engine(cls, engine: Any) -> DriverSQL | None:
        return cls(engine) if engine.dialect.name in ("sqlite", "postgresql") else None

    def find(self, keys: Sequence[str], contents: Sequence[str]) -> list[CallRow]:
        """The calls stored under these row keys, and the successful originals with these content keys."""
        with self._cursor() as cur:
            return self._find(cur, keys, contents)

    def insert(self, calls: list[dict[str, Any]], replaces: Callable[[Any, str | None], bool]) -> list[CallRow]:
        """Insert `calls` (every column's value: rows.values_of) in one transaction; each
        returned row is the one that now stands under its key: the new call, the one another writer
        stored first, or that one overwritten where `replaces(stored, new error)` says so."""
        with self._cursor(commit=True) as cur:
            cur.execute(self.calls.sql(len(calls)), self.calls.values(calls))
            inserted = {row.key: row for row in self._rows(cur)}
            taken = [call["key"] for call in calls if call["key"] not in inserted]
            stored = {row.key: row for row in self._find(cur, taken, ())} if taken else {}
            out = []
            for call in calls:
                key = call["key"]
                if key not in inserted:  # stored before this step
                    existing = stored[key]
                    if replaces(existing, call["error"]):
                        existing = self._overwrite(cur, existing.id, call)
                    inserted[key] = existing  # the same key again in this step gets this row: the first stands
                out.append(inserted[key])
            return out

    def write_judged(self, ids: tuple[int, int, int], pairs: Sequence[Any], examples: Sequence[Any]) -> list[int]:
        """A query's pairs ((chosen, rejected) draft-call ids, in order) and labelled drafts (sample
        index, draft id, desirable, Δ) in one transaction, written over any stored under the same
        indices; the pair ids."""
        run_id, round, query_pk = ids
        where = dict(run_id=run_id, round=round, query_id=query_pk)
        with self._cursor(commit=True) as cur:
            pair_ids = self._upsert(
                cur, self.pairs, [dict(where, idx=i, chosen_id=c, rejected_id=r) for i, (c, r) in enumerate(pairs)]
            )
            self._upsert(
                cur,
                self.examples,
                [dict(where, idx=i, draft_id=d, desirable=ok, delta=delta) for i, d, ok, delta in examples],
            )
            return [pair_ids[i] for i in range(len(pairs))]

    @contextmanager
    def _cursor(self, commit: bool = False) -> Iterator[Any]:
        """A cursor on a pooled connection; what it did is committed at the end of the block when
        `commit`, rolled back on an error (a read ends when the pool takes the connection back)."""
        conn = self.engine.raw_connection()
        try:
            yield conn.cursor()
            if commit:
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _find(self, cur: Any, keys: Sequence[str], contents: Sequence[str]) -> list[CallRow]:
        cur.execute(self.find_sql(len(keys), len(contents)), [*keys, *contents])
        return self._rows(cur)

    def _overwrite(self, cur: Any, pk: int, call: dict[str, Any]) -> CallRow:
        changed = [name for name, _ in self.calls.binds if name not in ("key", "created_at")]
        sets = ", ".join(f"{self.names[name]} = {self.mark}" for name in changed)
        values = dict(zip((name for name, _ in self.calls.binds), self.calls.values([call])))
        cur.execute(
            f"UPDATE {self.table} SET {sets} WHERE {self.names['id']} = {self.mark} RETURNING {self.returned}",
            [*(values[name] for name in changed), pk],
        )
        return self._rows(cur)[0]

    @staticmethod
    def _upsert(cur: Any, insert: _Insert, rows: list[dict[str, Any]]) -> dict[int, int]:
        """Write `rows` of a per-query table; idx -> id of each."""
        if not rows:
            return {}
        cur.execute(insert.sql(len(rows)), insert.values([values_of(insert.table, row) for row in rows]))
        return {idx: pk for pk, idx in cur.fetchall()}

    def _rows(self, cur: Any) -> list[CallRow]:
        """The rows the cursor's statement returned, each value as SQLAlchemy would read it."""
        rows = cur.fetchall()
        if not rows:
            return []
        processors = self.result_processors(tuple(column[1] for column in cur.description))
        if not processors:
            return [CallRow(*row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                values[i] = process(values[i])
            out.append(CallRow(*values))
        return out

    def _result_processors(self, type_codes: tuple) -> list[tuple[int, Any]]:
        """The columns whose value the driver returns in another type than SQLAlchemy's: (position,
        converter); on SQLite a date (text) and a boolean (0 or 1)."""
        dialect = self.dialect
        processors = (
            c.type.dialect_impl(dialect).result_processor(dialect, code) for c, code in zip(ROW_COLUMNS, type_codes)
        )
        return [(i, process) for i, process in enumerate(processors) if process is not None]

    def _find_sql(self, keys: int, contents: int) -> str:
        where = []
        if keys:
            where.append(f"{self.names['key']} IN ({self._marks(keys)})")
        if contents:
            where.append(
                f"({self.names['content_key']} IN ({self._marks(contents)}) AND {self.names['error']} IS NULL"
                f" AND {self.names['reused_from']} IS NULL)"
            )
        condition = " OR ".join(where) or "1 = 0"
        return f"SELECT {self.returned} FROM {self.table} WHERE {condition} ORDER BY {self.names['id']}"

    def _marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)


class _Insert:
    """INSERT of whole rows of `table` (every column but the id, defaults filled: rows.values_of),
    ON CONFLICT (`conflict`) `then`."""

    def __init__(self, table: Any, dialect: Any, mark: str, conflict: list[str], then: str):
        quote = dialect.identifier_preparer.quote
        self.table = table
        self.binds = [
            (c.name, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in table.columns if c.name != "id"
        ]
        self.head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name, _ in self.binds)}) VALUES "
        self.row = f"({', '.join([mark] * len(self.binds))})"
        self.tail = f" ON CONFLICT ({', '.join(quote(name) for name in conflict)}) {then}"

    def sql(self, rows: int) -> str:
        return self.head + ", ".join([self.row] * rows) + self.tail

    def values(self, rows: list[dict[str, Any]]) -> list[Any]:
        """The rows' values, in the statement's order, as the driver takes them."""
        return [bind(row[name]) if bind else row[name] for row in rows for name, bind in self.binds]


def _update(*changing: str) -> str:
    """Write a per-query row over the one stored under the same idx; return its id."""
    sets = ", ".join(f"{name} = excluded.{name}" for name in changing)
    return f"DO UPDATE SET {sets} RETURNING id, idx"
