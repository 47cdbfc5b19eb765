"""The CLI's commands, one module per area; each registers its own sub-parsers. Flags come from
the option dataclasses (flags.py), so defaults and help live with the fields."""

from __future__ import annotations

import argparse
import os
from typing import Any

from cowest.core import BadInput

from .flags import add_options, from_args

__all__ = [
    "BUDGET_FLAGS",
    "COLLAB_FLAGS",
    "DB_HELP",
    "add_db",
    "add_options",
    "check_data",
    "from_args",
    "store_of",
    "task_names",
]

DB_HELP = "SQLAlchemy URL of the trace store, or a SQLite file's path (default: $COWEST_DB or sqlite:///cowest.db)"
# The graph settings a job over a task file exposes as flags (their owner: CollabContext).
COLLAB_FLAGS = ("task", "weak", "strong", "format", "max_new_tokens", "timeout", "max_retries") + (
    "strong_concurrency",
    "judge_concurrency",
    "weak_concurrency",
    "weak_base_url",
    "weak_engine",
)
# The spending caps and prices of every job that calls the strong model (their owner: JobOptions).
BUDGET_FLAGS = ("max_strong_calls", "max_strong_tokens", "price_in", "price_out")


def task_names(with_open: bool = False) -> list[str]:
    from cowest.tasks import TASKS

    return [t for t in TASKS if with_open or t != "open"]


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default="", help=DB_HELP)


def store_of(args: argparse.Namespace, read_only: bool = False) -> Any:
    """The store `--db` names (SQLAlchemy is imported here, not when the CLI starts); a command that
    only reads (`read_only`) never creates one."""
    from cowest.storage import default_url, get_store

    return get_store(args.db or default_url(), must_exist=read_only)


def check_data(args: argparse.Namespace) -> None:
    """The job's data (--data, or the file its task file names) is a file that exists or a hub name
    `hf:OWNER/NAME[:SPLIT]`; the task (a name or a task file) is checked with it."""
    from cowest.tasks import get_task, task_data

    get_task(args.task)
    args.data = task_data(args.task, args.data)
    if not args.data.startswith("hf:") and not os.path.exists(args.data):
        raise BadInput(f"{args.data}: no such file")
