"""The writes made at every node step, in SQLAlchemy Core on SQLite and PostgreSQL: a step's calls
in one INSERT that skips keys already stored (ON CONFLICT DO NOTHING), a query's pairs and labelled
drafts as upserts, lookups read as plain rows. Through the ORM's unit of work the same writes cost
about twice the CPU (bench/RESULTS.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from .schema import Call, Example, Pair

TABLE: Any = Call.__table__
_COLUMNS = [c for c in TABLE.columns if c.name != "id"]
_PER_QUERY = ["run_id", "round", "query_id", "idx"]  # the unique key of a pair and of a labelled draft


class BulkWrites:
    """The statements, built once per store; `for_dialect` is None where the dialect has no ON
    CONFLICT (the store then writes through the ORM)."""

    def __init__(self, insert: Any):
        self.calls = insert(TABLE).on_conflict_do_nothing(index_elements=["key"]).returning(TABLE.c.id, TABLE.c.key)
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


def write_calls(conn: Any, writes: BulkWrites, calls: list[Call], replaces: Any) -> list[Call]:
    """Insert `calls` in one statement; each returned row is the one that now stands under its
    key: the new call, or the one another writer stored first, which `replaces(stored, new)` says
    whether the new one overwrites."""
    ids = {key: pk for pk, key in conn.execute(writes.calls, [column_values(c) for c in calls])}
    taken = [c.key for c in calls if c.key not in ids]
    stored = {c.key: c for c in read_calls(conn, TABLE.c.key.in_(taken))} if taken else {}
    out: list[Call] = []
    first: dict[str, Call] = {}
    for call in calls:
        if call.key in first:  # the same key twice in one step: the first stands
            out.append(first[call.key])
            continue
        if call.key in ids:
            call.id = ids[call.key]
        else:
            existing = stored[call.key]
            if not replaces(existing, call):
                call = existing
            else:
                changes = {c.name: getattr(call, c.name) for c in _COLUMNS if c.name not in ("key", "created_at")}
                conn.execute(update(TABLE).where(TABLE.c.id == existing.id).values(changes))
                call.id, call.created_at = existing.id, existing.created_at
        first[call.key] = call
        out.append(call)
    return out


# Built once: constructing a SELECT costs more than SQLite takes to run it.
_BY_KEYS = (
    select(TABLE)
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


def find_by_keys(conn: Any, keys: list[str], content_keys: list[str]) -> list[Call]:
    """The calls stored under these row keys, and the successful originals with these content keys."""
    return [Call(**row._mapping) for row in conn.execute(_BY_KEYS, {"keys": keys, "contents": content_keys})]


def read_calls(conn: Any, where: Any) -> list[Call]:
    """The calls matching `where`, in id order, as detached Call objects."""
    return [Call(**row._mapping) for row in conn.execute(select(TABLE).where(where).order_by(TABLE.c.id))]


def column_values(call: Call) -> dict[str, Any]:
    """The call's column values, column defaults filled in (and set on the call, as a flush would)."""
    values = {}
    for column in _COLUMNS:
        value = getattr(call, column.name)
        if value is None and column.default is not None:
            value = column.default.arg(None) if column.default.is_callable else column.default.arg
            setattr(call, column.name, value)
        values[column.name] = value
    return values
