"""The project's own error types. The CLI catches only these (one line on stderr, their exit code);
any other exception is a bug and keeps its traceback."""

from __future__ import annotations

import difflib
import errno
import sys
from collections.abc import Iterable

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # bad input or configuration: nothing spent, nothing written
EXIT_FAILURES = 3  # the job finished, but some calls or queries failed
EXIT_BUDGET = 4  # stopped by a budget; the same command with a larger one continues
EXIT_INTERRUPTED = 130  # SIGINT / SIGTERM


class CowestError(Exception):
    """A problem the user can fix; the message says what and how."""

    exit_code = EXIT_BAD_INPUT


class BadInput(CowestError, ValueError):
    """An argument, a data file or a model spec that cannot be used."""


class ConfigError(CowestError):
    """The environment is not set up for the job (a missing key, package or database driver)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean X?)` for the closest of `choices` to a mistyped `word`, else ``: a typo
    costs a glance, not a trip to --help."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class ServiceUnavailable(CowestError):
    """A server the job needs cannot be reached; found before anything is spent."""


class BudgetExceeded(CowestError):
    """The job reached its spending limit; what it finished is stored."""

    exit_code = EXIT_BUDGET


class StoreFailed(CowestError):
    """The store stopped taking writes after the job had started spending (a full disk, a damaged
    or vanished database): the job stops; the message counts what was paid and not stored."""

    exit_code = EXIT_FAILURES


def store_failure(exc: BaseException) -> str | None:
    """One line for a failure of the store or the disk, not of cowest: a damaged or read-only
    database file, a full disk, an output path the system refuses. None for anything else (a bug
    keeps its traceback). The drivers are looked up, not imported: a command that never opened a
    store never pays for them."""
    if isinstance(exc, _database_errors()):
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"the store failed: {cause} (check the --db file, its folder's permissions and the free disk space)"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
        return f"cannot write: {exc.strerror} ({exc.filename or 'the store or an output file'})"
    if isinstance(exc, OSError) and exc.filename and exc.errno in _PATH_REFUSED:
        return f"cannot write {exc.filename}: {exc.strerror}"
    return None


# An output path the user named that the system refuses (a file where a folder should be, no permission);
# ENOENT is not among them: a missing file cowest itself expected is a bug and keeps its traceback.
_PATH_REFUSED = (errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EACCES, errno.EPERM)


def _database_errors() -> tuple[type[BaseException], ...]:
    """The database errors of the drivers loaded: SQLAlchemy's, and the DB-API's own (PEP 249), which
    a driver raises unwrapped outside SQLAlchemy (a connection's own PRAGMA, a file check)."""
    modules = (sys.modules.get(name) for name in ("sqlalchemy.exc", "sqlite3", "psycopg"))
    return tuple(module.DatabaseError for module in modules if module is not None)


def check_run_name(name: str) -> str:
    """`name` if it can be a run's name: it becomes a folder (OUT/RUN/round-N) and is printed, so
    1-64 letters, digits, '.', '_' or '-', and not '.' or '..'."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name) or name in (".", ".."):
        raise BadInput(f"run name {name!r}: use 1-64 letters, digits, '.', '_' or '-' (it names a folder)")
    return name
