"""The CLI's commands, one module per area; each registers its own sub-parsers, and names the
function that runs each one (cowest/handlers/, imported only when its command runs: parsing the
command line, or `--help`, never loads torch, LangGraph or SQLAlchemy). Flags come from the option
dataclasses (flags.py), so defaults and help live with the fields."""

from __future__ import annotations

import argparse
from typing import Any

from cowest.tasks import TASKS

from .flags import add_options, from_args

__all__ = [
    "BUDGET_FLAGS",
    "COLLAB_FLAGS",
    "DB_HELP",
    "add_db",
    "handled_by",
    "add_options",
    "group",
    "from_args",
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
    return [t for t in TASKS if with_open or t != "open"]


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default="", help=DB_HELP)


def group(sub: Any, name: str, help: str, metavar: str) -> Any:
    """A command of sub-commands (`train`, `plan`, `db`...): given alone, cli.main prints its own
    help. Its sub-parsers action."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(command_parser=p)
    return p.add_subparsers(metavar=metavar)


def handled_by(p: argparse.ArgumentParser, handler: str, **defaults: Any) -> None:
    """`p` runs `handler`, "MODULE:FUNCTION" in cowest/handlers/ (cli.main imports it when it runs);
    `p` itself goes along, so that an unknown flag is named against the command's own flags."""
    p.set_defaults(func=handler, command_parser=p, **defaults)
