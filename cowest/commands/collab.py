"""`cowest ask`, `cowest collect`, `cowest runs`."""

from __future__ import annotations

import argparse
from typing import Any

from cowest.nodes.context import CollabContext
from cowest.options import CollectOptions

from . import BUDGET_FLAGS, COLLAB_FLAGS, add_db, add_options, command, handled_by

COLLECT_FLAGS: tuple[str, ...] = COLLAB_FLAGS + ("samples", "judge", "judge_model", "temperature", "top_p")
COLLECT_FLAGS += ("retry_failed", "cache", "feedback", "annotator")
JOB_FLAGS = ("data", "limit", "offset", "concurrency", "run", "db", "max_failures", "lease_seconds") + BUDGET_FLAGS


def register(sub: Any) -> None:  # argparse's subparsers action
    ask = command(sub, "ask")
    ask.add_argument("question")
    add_options(ask, CollabContext, COLLAB_FLAGS)
    ask.add_argument("--show-draft", action="store_true", help="print the weak model's draft too")
    add_db(ask)
    handled_by(ask, "collab:cmd_ask")

    col = command(sub, "collect")
    add_collect_flags(col, ("round", "seed"))
    handled_by(col, "collab:cmd_collect")

    runs = command(sub, "runs")
    add_db(runs)
    handled_by(runs, "collab:cmd_runs")


def add_collect_flags(p: argparse.ArgumentParser, extra: tuple[str, ...] = ()) -> None:
    """The flags of a collection, shared by `collect` and `rounds`."""
    add_options(p, CollectOptions, COLLECT_FLAGS + JOB_FLAGS + extra, required=("task",))
