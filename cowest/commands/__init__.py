"""The CLI's commands, one module per area; each registers its own sub-parsers, and names the
function that runs each one (cowest/handlers/, imported only when its command runs: parsing the
command line, or `--help`, never loads torch, LangGraph or SQLAlchemy). Flags come from the option
dataclasses (flags.py), so defaults and help live with the fields."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from cowest.tasks import TASKS

from .flags import add_options, from_args

__all__ = [
    "BUDGET_FLAGS",
    "COMMANDS",
    "COLLAB_FLAGS",
    "DB_HELP",
    "add_db",
    "handled_by",
    "add_options",
    "command",
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


@dataclass(frozen=True)
class Command:
    module: str  # the module of cowest/commands/ that builds its parser
    help: str


# Every command, in --help's order, with the module that parses it (pip's commands_dict): a command
# line builds its own command's parser only, so parsing never imports the other commands' modules.
COMMANDS: dict[str, Command] = {
    "ask": Command("collab", "answer one question: the weak model drafts, the strong model refines"),
    "collect": Command("collab", "collect preference pairs over a task file (Algorithm 1)"),
    "runs": Command("collab", "list runs with their counts"),
    "pairs": Command("exports", "preference pairs"),
    "examples": Command("exports", "labelled drafts (KTO)"),
    "traces": Command("exports", "model-call traces"),
    "train": Command("training", "train the weak model"),
    "rounds": Command("training", "N rounds of collect -> DPO or KTO (or GRPO, online) -> next adapter (resumable)"),
    "eval": Command("evaluate", "run methods and baselines on the same queries; store and print metrics"),
    "compare": Command(
        "evaluate",
        "paired comparison of two stored evaluations of the same queries (difference, 95%% interval, McNemar)",
    ),
    "score": Command("evaluate", "score a predictions file made elsewhere with the same parsing and metrics"),
    "report": Command("evaluate", "write report.md with a Table-1-style table and PNG plots"),
    "plan": Command(
        "plan", "before a job: the most strong/judge calls it can send, what the store covers, tokens, cost"
    ),
    "db": Command("store", "the trace store itself"),
}


def command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """Command `name`'s parser, with its help from COMMANDS."""
    return sub.add_parser(name, help=COMMANDS[name].help, **kwargs)


def group(sub: Any, name: str, metavar: str) -> Any:
    """A command of sub-commands (`train`, `plan`, `db`...): given alone, cli.main prints its own
    help. Its sub-parsers action."""
    p = command(sub, name)
    p.set_defaults(command_parser=p)
    return p.add_subparsers(metavar=metavar)


def handled_by(p: argparse.ArgumentParser, handler: str, **defaults: Any) -> None:
    """`p` runs `handler`, "MODULE:FUNCTION" in cowest/handlers/ (cli.main imports it when it runs);
    `p` itself goes along, so that an unknown flag is named against the command's own flags."""
    p.set_defaults(func=handler, command_parser=p, **defaults)
