"""Rows as the store writes and reads them: a row's column values with the defaults filled in, the
columns of a call read back (CallRow: every column but the prompt), and the lookup of a node step's
calls (SQLAlchemy Core). Calls go in as dicts and come back as rows, not ORM objects: an ORM object
per row read or written cost as much CPU as the statement (bench/RESULTS.md)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from .schema import Call, CallRow

TABLE: Any = Call.__table__
ROW_COLUMNS = [TABLE.c[name] for name in CallRow._fields]

StoredCall = Call | CallRow  # a stored call as read back (an ORM object where read through a session)
PER_QUERY = ["run_id", "round", "query_id", "idx"]  # the unique key of a pair and of a labelled draft


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


def values_of(table: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """A row's value for every column of `table` but the id: `fields`, the rest None or the
    column's default."""
    unset, defaults = _blank(table)
    values = {**unset, **fields}
    for name, default in defaults.items():
        if values[name] is None:
            values[name] = default.arg(None) if default.is_callable else default.arg
    return values


@cache
def _blank(table: Any) -> tuple[dict[str, None], dict[str, Any]]:
    columns = [c for c in table.columns if c.name != "id"]
    return dict.fromkeys(c.name for c in columns), {c.name: c.default for c in columns if c.default is not None}
