"""`cowest eval`, `cowest score`, `cowest report`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import BUDGET_FLAGS, COLLAB_FLAGS, add_db, add_options, check_data, from_args, store_of, task_names


def register(sub: Any) -> None:  # argparse's subparsers action
    ev = sub.add_parser("eval", help="run methods and baselines on the same queries; store and print metrics")
    add_eval_flags(ev)
    ev.set_defaults(func=cmd_eval)

    sc = sub.add_parser("score", help="score a predictions file made elsewhere with the same parsing and metrics")
    sc.add_argument("--task", required=True, choices=task_names())
    sc.add_argument("--data", required=True)
    sc.add_argument("--limit", type=int)
    sc.add_argument(
        "--predictions", required=True, help='JSON Lines: {"id": ..., "answer": ...} or {"id": ..., "output": ...}'
    )
    sc.add_argument("--json", action="store_true", help="print one JSON object")
    sc.set_defaults(func=cmd_score)

    rp = sub.add_parser("report", help="write report.md with a Table-1-style table and PNG plots")
    rp.add_argument("--run", help="only this run (default: every run in the store)")
    rp.add_argument("--out", default="report", help="output folder (default report/)")
    add_db(rp)
    rp.set_defaults(func=cmd_report)


def add_eval_flags(p: argparse.ArgumentParser) -> None:
    from cowest.options import EvalOptions

    add_options(
        p,
        EvalOptions,
        COLLAB_FLAGS
        + ("data", "limit", "offset", "methods", "formats", "adapter", "run", "concurrency", "db", "max_failures")
        + ("cache",)
        + BUDGET_FLAGS,
        required=("task",),
        choices={"task": task_names()},
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from cowest.console import eval_table
    from cowest.evaluation import EvalOptions, evaluate

    check_data(args.data)
    from cowest.core import EXIT_FAILURES

    opts = from_args(EvalOptions, args)
    results = evaluate(opts)
    print(eval_table(opts.task, results))
    sent = sum(r.metrics.get("strong_sent", 0) for r in results)
    reused = sum(r.metrics.get("strong_reused", 0) for r in results)
    print(f"strong requests: {sent} sent, {reused} reused from the store")
    failed = sum(r.metrics.get("failed_queries", 0) for r in results)
    if failed:
        print(f"{failed} queries had a failed model call (counted as misses); rerun the same command to retry them")
    return EXIT_FAILURES if failed else 0


def cmd_score(args: argparse.Namespace) -> int:
    from cowest.scoring import read_predictions, score_predictions
    from cowest.tasks import get_task

    task = get_task(args.task)
    examples = task.load(args.data, limit=args.limit).examples
    result = score_predictions(task, examples, read_predictions(args.predictions))
    if args.json:
        print(json.dumps(result))
    else:
        print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from cowest.report import write_report

    path = write_report(store_of(args), args.out, args.run)
    print(f"wrote {path}")
    return 0
