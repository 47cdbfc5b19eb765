"""Query leases: workers on one run and round split its queries through the store.

A worker claims a few unfinished queries whose lease is free or expired, renews its leases while it
works, and marks each query finished when its graph run ends. Claims are atomic: PostgreSQL skips
rows another worker has locked (`FOR UPDATE SKIP LOCKED`); SQLite claims inside one write
transaction (`BEGIN IMMEDIATE`), which takes the database's write lock first. Expiry is read off
the database's clock, not each worker's, so workers whose clocks disagree still agree on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Float, and_, bindparam, cast, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from .schema import Lease


def ensure_leases(store: Any, run_id: int, round: int, query_pks: Iterable[int]) -> None:
    """A lease row (free) for each query that has none yet."""
    wanted = set(query_pks)
    with store.session() as s:
        have = set(s.scalars(select(Lease.query_id).where(Lease.run_id == run_id, Lease.round == round)))
        missing = sorted(wanted - have)
        if not missing:
            return
        try:
            s.execute(insert(Lease), [dict(run_id=run_id, round=round, query_id=pk, expires_at=0.0) for pk in missing])
            s.commit()
            return
        except IntegrityError:  # another worker added some first: add the rest one by one
            s.rollback()
    for pk in missing:
        with store.session() as s:
            s.add(Lease(run_id=run_id, round=round, query_id=pk, owner=None, expires_at=0.0))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()


def database_now(dialect: str) -> Any:
    """The database's time in epoch seconds, as an SQL expression (another database than SQLite
    or PostgreSQL: this worker's clock)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    if dialect == "sqlite":
        return (func.julianday("now") - 2440587.5) * 86400.0
    return literal(time.time())


def claim(store: Any, run_id: int, round: int, owner: str, n: int, ttl: float) -> list[int]:
    """Up to `n` query ids now leased to `owner` for `ttl` seconds."""
    now = database_now(store.engine.dialect.name)
    claimable = (
        select(Lease.id, Lease.query_id)
        .where(
            Lease.run_id == run_id,
            Lease.round == round,
            Lease.finished.is_(False),
            or_(Lease.owner.is_(None), Lease.expires_at < now),
        )
        .order_by(Lease.id)
        .limit(n)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has no row locks (see below)
    )
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock before the read: no two claim one row
        rows = conn.execute(claimable).all()
        if rows:
            conn.execute(
                update(Lease).where(Lease.id.in_([r.id for r in rows])).values(owner=owner, expires_at=now + ttl)
            )
        conn.commit()
    return [r.query_id for r in rows]


def renew(store: Any, run_id: int, round: int, owner: str, ttl: float) -> None:
    with store.session() as s:
        s.execute(
            update(Lease)
            .where(Lease.run_id == run_id, Lease.round == round, Lease.owner == owner, Lease.finished.is_(False))
            .values(expires_at=database_now(store.engine.dialect.name) + ttl)
        )
        s.commit()


# Built once (every query runs it): building an UPDATE costs twice what SQLite takes to run it.
_FINISH = (
    update(Lease)
    .where(Lease.run_id == bindparam("run"), Lease.round == bindparam("rnd"), Lease.query_id == bindparam("query"))
    .values(finished=True, owner=bindparam("worker"))
)


def finish(store: Any, run_id: int, round: int, query_pk: int, owner: str) -> None:
    """The query's graph run ended (well or not): no worker needs to run it for its calls."""
    with store.engine.begin() as conn:
        conn.execute(_FINISH, dict(run=run_id, rnd=round, query=query_pk, worker=owner))


def release(store: Any, run_id: int, round: int, owner: str) -> None:
    """Give back this worker's unfinished leases (it stopped early: budget, failures, Ctrl-C)."""
    with store.session() as s:
        s.execute(
            update(Lease)
            .where(Lease.run_id == run_id, Lease.round == round, Lease.owner == owner, Lease.finished.is_(False))
            .values(owner=None, expires_at=0.0)
        )
        s.commit()


def finished_among(store: Any, run_id: int, round: int, query_pks: Iterable[int]) -> set[int]:
    wanted = list(query_pks)
    with store.session() as s:
        return set(
            s.scalars(
                select(Lease.query_id).where(
                    and_(Lease.run_id == run_id, Lease.round == round, Lease.finished.is_(True)),
                    Lease.query_id.in_(wanted),
                )
            )
        )
