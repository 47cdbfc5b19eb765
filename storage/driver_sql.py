"""The two statements of every node step, a step's lookup and its insert, in SQL written once per
store and run on the database driver's own cursor (SQLite and PostgreSQL). Through SQLAlchemy each
cost about 0.1-0.2 ms of CPU more than the statement itself on SQLite, a fifth of a query's
orchestration (bench/RESULTS.md). Values go in and come out through the type processors SQLAlchemy
uses for these columns, so the rows are the same whichever way they were written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from .bulk_writes import ROW_COLUMNS, TABLE
from .schema import CallRow

INSERTED = [c for c in TABLE.columns if c.name != "id"]


class DriverSQL:
    """A store's lookup and insert of calls; `for_engine` is None on a database other than SQLite and
    PostgreSQL (the store then goes through SQLAlchemy)."""

    def __init__(self, engine: Any):
        self.engine = engine
        dialect = engine.dialect
        quote = dialect.identifier_preparer.quote
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.table = quote(TABLE.name)
        self.names = {c.name: quote(c.name) for c in TABLE.columns}
        self.returned = ", ".join(self.names[c.name] for c in ROW_COLUMNS)
        self.binds = [(c.name, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in INSERTED]
        self.dialect = dialect
        self.find_sql = lru_cache(maxsize=64)(self._find_sql)
        self.insert_sql = lru_cache(maxsize=64)(self._insert_sql)
        self.result_processors = lru_cache(maxsize=8)(self._result_processors)

    @classmethod
    def for_engine(cls, engine: Any) -> DriverSQL | None:
        return cls(engine) if engine.dialect.name in ("sqlite", "postgresql") else None

    def find(self, keys: Sequence[str], contents: Sequence[str]) -> list[CallRow]:
        """The calls stored under these row keys, and the successful originals with these content keys."""
        conn = self.engine.raw_connection()
        try:
            return self._find(conn.cursor(), keys, contents)
        finally:
            conn.close()  # back to the pool, which ends the read

    def insert(self, calls: list[dict[str, Any]], replaces: Callable[[Any, str | None], bool]) -> list[CallRow]:
        """Insert `calls` (every column's value: bulk_writes.call_values) in one transaction; each
        returned row is the one that now stands under its key: the new call, the one another writer
        stored first, or that one overwritten where `replaces(stored, new error)` says so."""
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(self.insert_sql(len(calls)), [value for call in calls for value in self._values(call)])
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
            conn.commit()
            return out
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _find(self, cur: Any, keys: Sequence[str], contents: Sequence[str]) -> list[CallRow]:
        cur.execute(self.find_sql(len(keys), len(contents)), [*keys, *contents])
        return self._rows(cur)

    def _overwrite(self, cur: Any, pk: int, call: dict[str, Any]) -> CallRow:
        changed = [c for c in INSERTED if c.name not in ("key", "created_at")]
        sets = ", ".join(f"{self.names[c.name]} = {self.mark}" for c in changed)
        values = dict(zip((c.name for c in INSERTED), self._values(call)))
        cur.execute(
            f"UPDATE {self.table} SET {sets} WHERE {self.names['id']} = {self.mark} RETURNING {self.returned}",
            [*(values[c.name] for c in changed), pk],
        )
        return self._rows(cur)[0]

    def _values(self, call: dict[str, Any]) -> list[Any]:
        return [bind(call[name]) if bind else call[name] for name, bind in self.binds]

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

    def _insert_sql(self, rows: int) -> str:
        columns = ", ".join(self.names[c.name] for c in INSERTED)
        values = ", ".join([f"({self._marks(len(INSERTED))})"] * rows)
        return (
            f"INSERT INTO {self.table} ({columns}) VALUES {values}"
            f" ON CONFLICT ({self.names['key']}) DO NOTHING RETURNING {self.returned}"
        )

    def _marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)
