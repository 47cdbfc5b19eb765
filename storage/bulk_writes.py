"""What every query writes and reads, in SQLAlchemy Core: a query's pairs and labelled drafts as
upserts (SQLite and PostgreSQL), the lookup of a node step's calls on other databases, and a call's
column values. Calls go in as dicts of column values and come back as CallRows (every column but
the prompt); a node step's own statements run on the driver (driver_sql.py). Through the ORM's unit
of work the same writes cost about twice the CPU, and an ORM object per row read or written cost as
much again as the statement (bench/RESULTS.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from .schema import Call, CallRow, Example, Pair

TABLE: Any = Call.__table__
_COLUMNS = [c for c in TABLE.columns if c.name != "id"]
_DEFAULTS = {c.name: c.default for c in _COLUMNS if c.default is not None}
_UNSET = dict.fromkeys(c.name for c in _COLUMNS)
ROW_COLUMNS = [TABLE.c[name] for name in CallRow._fields]

StoredCall = Call | CallRow  # a stored call as read back (an ORM object where written through the ORM)
_PER_QUERY = ["run_id", "round", "query_id", "idx"]  # the unique key of a pair and of a labelled draft


class BulkWrites:
    """The statements, built once per store; `for_dialect` is None where the dialect has no ON
    CONFLICT (the store then writes through the ORM)."""

    def __init__(self, insert: Any):
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


def find_by_keys(conn: Any, keys: list[str], content_keys: list[str]) -> list[CallRow]:
    """The calls stored under these row keys, and the successful originals with these content keys."""
    return [CallRow(*row) for row in conn.execute(_BY_KEYS, {"keys": keys, "contents": content_keys})]


def call_values(fields: dict[str, Any]) -> dict[str, Any]:
    """A call's value for every column but the id: `fields`, the rest None or its column default."""
    values = {**_UNSET, **fields}
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
