"""What each command does when it runs, one module per area of cowest/commands/ (which parses the
command line and names these functions): imported only when its command runs."""

from __future__ import annotations

import argparse
import os
from typing import Any

from cowest.commands.flags import from_args
from cowest.core import BadInput
from cowest.storage import default_url, get_store
from cowest.tasks import get_task, task_data

__all__ = ["check_data", "from_args", "store_of"]


def store_of(args: argparse.Namespace, read_only: bool = False) -> Any:
    """The store `--db` names; a command that only reads (`read_only`) never creates one."""
    return get_store(args.db or default_url(), must_exist=read_only)


def check_data(args: argparse.Namespace) -> None:
    """The job's data (--data, or the file its task file names) is a file that exists or a hub name
    `hf:OWNER/NAME[:SPLIT]`; the task (a name or a task file) is checked with it."""
    get_task(args.task)
    args.data = task_data(args.task, args.data)
    if not args.data.startswith("hf:") and not os.path.exists(args.data):
        raise BadInput(f"{args.data}: no such file")
