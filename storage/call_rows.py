"""The calls' hot path in SQLAlchemy Core: the rows of a node step written with one INSERT that
skips keys already stored (ON CONFLICT DO NOTHING, on SQLite and PostgreSQL), lookups read as plain
rows. Through the ORM's unit of work the same step cost about twice the CPU (bench/RESULTS.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from .schema import Call

TABLE: Any = Call.__table__
_COLUMNS = [c for c in TABLE.columns if c.name != "id"]


def insert_skipping_stored(dialect: str) -> Any | None:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id, key; None where the dialect has no
    such statement (the store then writes through the ORM)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement: Any = sqlite_insert(TABLE)
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        statement = postgresql_insert(TABLE)
    else:
        return None
    return statement.on_conflict_do_nothing(index_elements=["key"]).returning(TABLE.c.id, TABLE.c.key)


def write_calls(conn: Any, insert: Any, calls: list[Call], replaces: Any) -> list[Call]:
    """Insert `calls` in one statement; each returned row is the one that now stands under its
    key: the new call, or the one another writer stored first, which `replaces(stored, new)` says
    whether the new one overwrites."""
    ids = {key: pk for pk, key in conn.execute(insert, [_values(c) for c in calls])}
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


def read_calls(conn: Any, where: Any) -> list[Call]:
    """The calls matching `where`, in id order, as detached Call objects."""
    return [Call(**row._mapping) for row in conn.execute(select(TABLE).where(where).order_by(TABLE.c.id))]


def _values(call: Call) -> dict[str, Any]:
    """The call's column values, column defaults filled in (and set on the call, as a flush would)."""
    values = {}
    for column in _COLUMNS:
        value = getattr(call, column.name)
        if value is None and column.default is not None:
            value = column.default.arg(None) if column.default.is_callable else column.default.arg
            setattr(call, column.name, value)
        values[column.name] = value
    return values
