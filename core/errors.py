"""The project's own error types. The CLI catches only these (one line on stderr, their exit code);
any other exception is a bug and keeps its traceback."""

from __future__ import annotations

import difflib
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


def check_run_name(name: str) -> str:
    """`name` if it can be a run's name: it becomes a folder (OUT/RUN/round-N) and is printed, so
    1-64 letters, digits, '.', '_' or '-', and not '.' or '..'."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name) or name in (".", ".."):
        raise BadInput(f"run name {name!r}: use 1-64 letters, digits, '.', '_' or '-' (it names a folder)")
    return name
