"""The per-step writes of driver_sql.py through the ORM, for a database without INSERT ... ON
CONFLICT (any SQLAlchemy URL other than SQLite and PostgreSQL): same results, more CPU."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from .schema import Call, Example, Pair


def save_calls_orm(
    session: Any, rows: list[dict[str, Any]], replaces: Callable[[Call, str | None], bool]
) -> list[Call]:
    """As DriverSQL.insert; raises IntegrityError when another writer stored a key meanwhile."""
    stored = {c.key: c for c in session.scalars(select(Call).where(Call.key.in_([r["key"] for r in rows])))}
    out = []
    for row in rows:
        call = Call(**row)
        existing = stored.get(call.key)
        if existing is None:
            session.add(call)
            stored[call.key] = call
            out.append(call)
        elif replaces(existing, call.error):
            for col in Call.__table__.columns.keys():
                if col not in ("id", "key", "created_at"):
                    setattr(existing, col, getattr(call, col))
            out.append(existing)
        else:
            out.append(existing)
    session.commit()
    return out


def write_judged_orm(
    session: Any, ids: tuple[int, int, int], pairs: Sequence[tuple[int, int]], examples: Sequence[Any]
) -> list[int]:
    """As DriverSQL.write_judged; raises IntegrityError when another writer inserted the same rows."""
    run_id, round, query_pk = ids
    of_query = dict(run_id=run_id, round=round, query_id=query_pk)
    pair_ids = []
    stored_pairs = {p.idx: p for p in session.scalars(select(Pair).filter_by(**of_query))}
    for idx, (chosen, rejected) in enumerate(pairs):
        row = stored_pairs.get(idx)
        if row is None:
            row = Pair(**of_query, idx=idx, chosen_id=chosen, rejected_id=rejected)
            session.add(row)
        else:
            row.chosen_id, row.rejected_id = chosen, rejected
        session.flush()
        pair_ids.append(row.id)
    stored = {e.idx: e for e in session.scalars(select(Example).filter_by(**of_query))}
    for idx, draft_id, desirable, delta in examples:
        found = stored.get(idx)
        if found is None:
            session.add(Example(**of_query, idx=idx, draft_id=draft_id, desirable=desirable, delta=delta))
        else:
            found.draft_id, found.desirable, found.delta = draft_id, desirable, delta
    session.commit()
    return pair_ids
