"""`cowest eval`, `cowest score`, `cowest report`."""

from __future__ import annotations

import argparse
from typing import Any

from cowest.eval_options import EvalOptions

from . import BUDGET_FLAGS, COLLAB_FLAGS, add_db, add_options, command, handled_by


def register(sub: Any) -> None:  # argparse's subparsers action
    ev = command(sub, "eval")
    add_eval_flags(ev)
    ev.add_argument("--json", action="store_true", help="print one JSON object: results, intervals, comparisons")
    handled_by(ev, "evaluate:cmd_eval")

    cp = command(sub, "compare")
    cp.add_argument("a", help="an evaluation id, or a method label (the newest of it): collab, collab@ADAPTER_DIR")
    cp.add_argument("b", help="the other one; the difference shown is b - a")
    cp.add_argument("--run", help="look the labels up in this run only")
    cp.add_argument("--json", action="store_true", help="print one JSON object")
    add_db(cp)
    handled_by(cp, "evaluate:cmd_compare")

    sc = command(sub, "score")
    sc.add_argument("--task", required=True, help="a task name (ifqa, medmcqa, prosocial) or a task file PATH.yaml")
    sc.add_argument("--data", default="", help="the data file (default: the one the task file names)")
    sc.add_argument("--limit", type=int)
    sc.add_argument(
        "--predictions", required=True, help='JSON Lines: {"id": ..., "answer": ...} or {"id": ..., "output": ...}'
    )
    sc.add_argument("--json", action="store_true", help="print one JSON object")
    handled_by(sc, "evaluate:cmd_score")

    rp = command(sub, "report")
    rp.add_argument("--run", help="only this run (default: every run in the store)")
    rp.add_argument("--out", default="report", help="output folder (default report/)")
    add_db(rp)
    handled_by(rp, "evaluate:cmd_report")


def add_eval_flags(p: argparse.ArgumentParser) -> None:
    add_options(
        p,
        EvalOptions,
        COLLAB_FLAGS
        + ("data", "limit", "offset", "methods", "formats", "adapter", "against", "run", "concurrency", "db")
        + ("max_failures",)
        + ("cache", "corpus", "top_k", "flare_threshold")
        + BUDGET_FLAGS,
        required=("task",),
    )
