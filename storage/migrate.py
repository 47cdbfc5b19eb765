"""Schema revisions of a store (Alembic, storage/migrations/): a new store is created at the latest
one; an older store is refused with one line until `cowest db upgrade` brings it up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from .schema import alembic_version

HEAD = "0006"  # the revision this code writes; storage/migrations/versions/ holds each step
LEGACY = "0001"  # the schema of cowest 0.1, which had no alembic_version table
MIGRATIONS = Path(__file__).with_name("migrations")


def revision_of(engine: Any) -> str | None:
    """The store's revision; None for an empty database."""
    names = set(inspect(engine).get_table_names())
    if "alembic_version" not in names:
        return LEGACY if "calls" in names else None
    with engine.connect() as conn:
        return conn.scalar(select(alembic_version.c.version_num)) or HEAD  # empty: being created now


def stamp_new(engine: Any) -> None:
    """Mark a store just created from the schema as being at HEAD (a second process creating the
    same store at once inserts the same row: nothing to do)."""
    try:
        with engine.begin() as conn:
            if conn.scalar(select(alembic_version.c.version_num)) is None:
                conn.execute(alembic_version.insert().values(version_num=HEAD))
    except IntegrityError:
        pass


def upgrade(engine: Any, revision: str = "head", openai_base_url: str | None = None) -> tuple[str | None, str | None]:
    """Bring the store to `revision`; returns (revision before, revision after). `openai_base_url`:
    where a 0.1 store's `openai:` calls were made to (0.1 did not record it; its calls' new keys name it)."""
    from alembic import command
    from alembic.config import Config

    before = revision_of(engine)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # SQLite alters a table by copying it; with foreign keys on, dropping the old copy fails.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        cfg.attributes["openai_base_url"] = openai_base_url
        if before == LEGACY and "alembic_version" not in inspect(conn).get_table_names():
            command.stamp(cfg, LEGACY)
        command.upgrade(cfg, revision)
        conn.commit()
    return before, revision_of(engine)
