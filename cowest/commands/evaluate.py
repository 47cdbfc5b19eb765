"""`cowest eval`, `cowest score`, `cowest report`."""

from __future__ import annotations

import argparse
from typing import Any

from cowest.eval_options import EvalOptions

from . import BUDGET_FLAGS, COLLAB_FLAGS, add_db, add_options, handled_by


def register(sub: Any) -> None:  # argparse's subparsers action
    ev = sub.add_parser("eval", help="run methods and baselines on the same queries; store and print metrics")
    add_eval_flags(ev)
    ev.add_argument("--json", action="store_true", help="print one JSON object: results, intervals, comparisons")
    handled_by(ev, "evaluate:cmd_eval")

    cp = sub.add_parser(
        "compare",
        help="paired comparison of two stored evaluations of the same queries (difference, 95%% interval, McNemar)",
    )
    cp.add_argument("a", help="an evaluation id, or a method label (the newest of it): collab, collab@ADAPTER_DIR")
    cp.add_argument("b", help="the other one; the difference shown is b - a")
    cp.add_argument("--run", help="look the labels up in this run only")
    cp.add_argument("--json", action="store_true", help="print one JSON object")
    add_db(cp)
    handled_by(cp, "evaluate:cmd_compare")

    sc = sub.add_parser("score", help="score a predictions file made elsewhere with the same parsing and metrics")
    sc.add_argument("--task", required=True, help="a task name (ifqa, medmcqa, prosocial) or a task file PATH.yaml")
    sc.add_argument("--data", default="", help="the data file (default: the one the task file names)")
    sc.add_argument("--limit", type=int)
    sc.add_argument(
        "--predictions", required=True, help='JSON Lines: {"id": ..., "answer": ...} or {"id": ..., "output": ...}'
    )
    sc.add_argument("--json", action="store_true", help="print one JSON object")
    handled_by(sc, "evaluate:cmd_score")

    rp = sub.add_parser("report", help="write report.md with a Table-1-style table and PNG plots")
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
