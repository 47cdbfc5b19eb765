"""Opening a store's database: the engine (SQLite in WAL mode, or any SQLAlchemy URL), a check that
it is a cowest store, and its tables. Every failure is one StoreError line."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from cowest.core import ConfigError

from .migrate import HEAD, MIGRATIONS, revision_of, stamp_new, upgrade
from .schema import Base

DEFAULT_URL = "sqlite:///cowest.db"


def default_url() -> str:
    """The store jobs write to when no URL is given: $COWEST_DB, else cowest.db here."""
    return as_store_url(os.environ.get("COWEST_DB") or DEFAULT_URL)


def as_store_url(text: str) -> str:
    """A store URL from what a user typed: a bare file path (`cowest.db`, `runs/x.db`) means that
    SQLite file, since that is what everyone who types one means; anything with `://` is a URL."""
    text = text or default_url()
    return text if "://" in text else f"sqlite:///{text}"


def missing_store(url: str) -> str | None:
    """The path of the SQLite file `url` names when that file does not exist (None otherwise):
    a command that only reads says so instead of creating an empty store under a typo's name."""
    if not url.startswith("sqlite"):
        return None
    try:
        from sqlalchemy.engine import make_url

        path = make_url(url).database
    except ArgumentError:
        return None  # opening it will say what is wrong with the URL
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return None if os.path.exists(path) else path


class StoreError(ConfigError):
    """A database that cannot be opened or a run that does not fit the stored one."""


def open_database(url: str) -> Any:
    """An engine on `url` with cowest's tables in it, at the schema revision this code writes."""
    with _store_errors(url):
        engine = _engine(url)
        _check_is_ours(engine, url)
        _check_revision(engine, url)
        _create_tables(engine)
        stamp_new(engine)
        return engine


def upgrade_database(url: str, openai_base_url: str | None = None) -> tuple[str | None, str | None]:
    """Migrate the store at `url` to the revision this code writes: (revision before, after)."""
    url = as_store_url(url)
    missing = missing_store(url)
    if missing is not None:  # opening it would leave an empty file under a typo's name
        raise StoreError(f"{missing}: no such store, nothing to upgrade (check --db or $COWEST_DB)")
    with _store_errors(url):
        engine = _engine(url)
        _check_is_ours(engine, url)
        if revision_of(engine) is None:
            raise StoreError(f"{safe_url(url)} holds no store yet: nothing to upgrade")
        return upgrade(engine, openai_base_url=openai_base_url)


@contextmanager
def _store_errors(url: str) -> Iterator[None]:
    """Any failure to open or migrate a database as one StoreError line."""
    try:
        yield
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"no driver for {safe_url(url)}: {exc} (for PostgreSQL: pip install 'cowest[postgres]')"
        ) from None
    except (ArgumentError, SQLAlchemyError, ValueError) as exc:
        raise StoreError(f"cannot open database {safe_url(url)}: {_first_line(exc)}") from None


def _create_tables(engine: Any) -> None:
    """Create the missing tables. Two processes opening a new store at once race here: the loser's
    CREATE fails on a table the winner just made, and a second pass finds them all there."""
    for attempt in range(5):
        try:
            Base.metadata.create_all(engine)
            return
        except (IntegrityError, ProgrammingError, OperationalError):
            if attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))


def _check_revision(engine: Any, url: str) -> None:
    """A store written by another version of cowest is refused before anything reads or writes it."""
    revision = revision_of(engine)
    if revision is None or revision == HEAD:
        return
    if not any((MIGRATIONS / "versions").glob(f"{revision}_*.py")):
        raise StoreError(f"{safe_url(url)} was written by a newer cowest (schema {revision}); upgrade cowest")
    raise StoreError(
        f"{safe_url(url)} was written by an older cowest (schema {revision}, this one writes {HEAD}); "
        "back it up, then run `cowest db upgrade` with the same --db"
    )


def _check_is_ours(engine: Any, url: str) -> None:
    """A database that already holds tables must hold ours: cowest never writes into someone else's.
    Any one of our tables will do: another process may be halfway through creating them."""
    names = set(inspect(engine).get_table_names())
    if names and names.isdisjoint(Base.metadata.tables):
        shown = ", ".join(sorted(names)[:5])
        raise StoreError(f"{safe_url(url)} is not a cowest store (it has other tables: {shown}); pick another --db")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


SQLITE_LOCK_WAIT_S = 30.0  # how long a statement waits for another process's write lock


def _engine(url: str):
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_LOCK_WAIT_S})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            _into_wal(cur)  # readers never block the writer
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crashed process loses
            # nothing committed (only a power cut can lose the last commits, never the database).
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _into_wal(cur: Any) -> None:
    """Put the database in WAL mode. While another process is still creating the file (it holds the
    write lock, the file not yet in WAL mode), SQLite answers "database is locked" at once instead of
    waiting: the switch upgrades a read to a write, which never waits. So wait here, as long as any
    statement would."""
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
