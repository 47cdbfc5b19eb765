"""The writes made at every node step, in SQLAlchemy Core on SQLite and PostgreSQL: a step's calls
in one INSERT that skips keys already stored (ON CONFLICT DO NOTHING), a query's pairs and labelled
drafts as upserts. Calls go in as dicts of column values and come back, as lookups do, as plain
rows of every column but the prompt (`StoredCall`). Through the ORM's unit of work the same writes
cost about twice the CPU, and an ORM object per row read or written cost as much again as the
statement (bench/RESULTS.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Row, and_, bindparam, or_, select, update

from .schema import Call, Example, Pair

TABLE: Any = Call.__table__
_COLUMNS = [c for c in TABLE.columns if c.name != "id"]
_DEFAULTS = {c.name: c.default for c in _COLUMNS if c.default is not None}
# What a node goes on with: every column but the prompt, whose JSON costs more to read than the rest.
ROW_COLUMNS = [c for c in TABLE.columns if c.name != "prompt"]

StoredCall = Call | Row[Any]  # a stored call as read back: a row of ROW_COLUMNS (an ORM object off SQL's two)
_PER_QUERY = ["run_id", "round", "query_id", "idx"]  # the unique key of a pair and of a labelled draft


class BulkWrites:
    """The statements, built once per store; `for_dialect` is None where the dialect has no ON
    CONFLICT (the store then writes through the ORM)."""

    def __init__(self, insert: Any):
        self.calls = insert(TABLE).on_conflict_do_nothing(index_elements=["key"]).returning(*ROW_COLUMNS)
        self.pairs = _upsert(insert, Pair.__table__, ["chosen_id", "rejected_id"])
        self.examples = _upsert(insert, Example.__table__, ["draft_id", "desirable", "delta"])

    @classmethod
    def for_dialect(cls, dialect: str) -> BulkWrites | None:
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return cls(sqlite_insert)
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            return cls(postgresql_insert)
        return None


def _upsert(insert: Any, table: Any, changing: list[str]) -> Any:
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=_PER_QUERY, set_={name: statement.excluded[name] for name in changing}
    ).returning(table.c.id, table.c.idx)


def write_judged(conn: Any, writes: BulkWrites, ids: tuple[int, int, int], pairs: Any, examples: Any) -> list[int]:
    """A query's pairs ((chosen, rejected) draft-call ids, in order) and labelled drafts (sample
    index, draft id, desirable, Δ), written over any stored under the same indices; the pair ids."""
    run_id, round, query_pk = ids
    where = dict(run_id=run_id, round=round, query_id=query_pk)
    pair_ids: dict[int, int] = {}
    if pairs:
        rows = [dict(where, idx=i, chosen_id=c, rejected_id=r) for i, (c, r) in enumerate(pairs)]
        pair_ids = {idx: pk for pk, idx in conn.execute(writes.pairs, rows)}
    if examples:
        rows = [dict(where, idx=i, draft_id=d, desirable=ok, delta=delta) for i, d, ok, delta in examples]
        conn.execute(writes.examples, rows)
    return [pair_ids[i] for i in range(len(pairs))]


def write_calls(
    conn: Any, writes: BulkWrites, calls: list[dict[str, Any]], replaces: Callable[[Any, str | None], bool]
) -> list[Row[Any]]:
    """Insert `calls` (column values, defaults filled: `call_values`) in one statement; each
    returned row is the one that now stands under its key: the new call, or the one another writer
    stored first, which `replaces(stored, new error)` says whether the new one overwrites."""
    inserted = {row.key: row for row in conn.execute(writes.calls, calls)}
    taken = [c["key"] for c in calls if c["key"] not in inserted]
    stored = {row.key: row for row in read_calls(conn, TABLE.c.key.in_(taken))} if taken else {}
    out: list[Row[Any]] = []
    for call in calls:
        key = call["key"]
        if key in inserted:  # new, or its key came earlier in this step (the first stands)
            out.append(inserted[key])
            continue
        existing = stored[key]
        if replaces(existing, call["error"]):
            changes = {name: value for name, value in call.items() if name not in ("key", "created_at")}
            statement = update(TABLE).where(TABLE.c.id == existing.id).values(changes).returning(*ROW_COLUMNS)
            existing = conn.execute(statement).one()
        inserted[key] = existing
        out.append(existing)
    return out


# Built once: constructing a SELECT costs more than SQLite takes to run it.
_BY_KEYS = (
    select(*ROW_COLUMNS)
    .where(
        or_(
            TABLE.c.key.in_(bindparam("keys", expanding=True)),
            and_(
                TABLE.c.content_key.in_(bindparam("contents", expanding=True)),
                TABLE.c.error.is_(None),
                TABLE.c.reused_from.is_(None),
            ),
        )
    )
    .order_by(TABLE.c.id)
)


def find_by_keys(conn: Any, keys: list[str], content_keys: list[str]) -> list[Row[Any]]:
    """The calls stored under these row keys, and the successful originals with these content keys."""
    return list(conn.execute(_BY_KEYS, {"keys": keys, "contents": content_keys}))


def read_calls(conn: Any, where: Any) -> list[Row[Any]]:
    """The calls matching `where`, in id order."""
    return list(conn.execute(select(*ROW_COLUMNS).where(where).order_by(TABLE.c.id)))


def call_values(fields: dict[str, Any]) -> dict[str, Any]:
    """A call's value for every column but the id: `fields`, the rest None or its column default."""
    values = dict.fromkeys(c.name for c in _COLUMNS)
    values.update(fields)
    for name, default in _DEFAULTS.items():
        if values[name] is None:
            values[name] = default.arg(None) if default.is_callable else default.arg
    return values


def column_values(call: Call) -> dict[str, Any]:
    """The call's column values, column defaults filled in (and set on the call, as a flush would)."""
    values = call_values({c.name: getattr(call, c.name) for c in _COLUMNS})
    for name in _DEFAULTS:
        setattr(call, name, values[name])
    return values
