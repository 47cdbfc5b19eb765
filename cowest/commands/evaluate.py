"""`cowest eval`, `cowest score`, `cowest report`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import BUDGET_FLAGS, COLLAB_FLAGS, add_db, add_options, check_data, from_args, store_of


def register(sub: Any) -> None:  # argparse's subparsers action
    ev = sub.add_parser("eval", help="run methods and baselines on the same queries; store and print metrics")
    add_eval_flags(ev)
    ev.add_argument("--json", action="store_true", help="print one JSON object: results, intervals, comparisons")
    ev.set_defaults(func=cmd_eval)

    cp = sub.add_parser(
        "compare",
        help="paired comparison of two stored evaluations of the same queries (difference, 95%% interval, McNemar)",
    )
    cp.add_argument("a", help="an evaluation id, or a method label (the newest of it): collab, collab@ADAPTER_DIR")
    cp.add_argument("b", help="the other one; the difference shown is b - a")
    cp.add_argument("--run", help="look the labels up in this run only")
    cp.add_argument("--json", action="store_true", help="print one JSON object")
    add_db(cp)
    cp.set_defaults(func=cmd_compare)

    sc = sub.add_parser("score", help="score a predictions file made elsewhere with the same parsing and metrics")
    sc.add_argument("--task", required=True, help="a task name (ifqa, medmcqa, prosocial) or a task file PATH.yaml")
    sc.add_argument("--data", default="", help="the data file (default: the one the task file names)")
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
    from cowest.eval_options import EvalOptions

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


def cmd_eval(args: argparse.Namespace) -> int:
    from cowest.console import comparison_table, eval_table
    from cowest.core import EXIT_FAILURES
    from cowest.evaluation import EvalOptions, evaluate
    from cowest.evidence import compare, comparison_json, intervals_of

    check_data(args)
    opts = from_args(EvalOptions, args)
    results = evaluate(opts, progress=not args.json)
    base = next((r for r in results if r.method == opts.against), None)
    comparisons = [(base, r, compare(base, r)) for r in results if base is not None and r is not base]
    failed = sum(r.metrics.get("failed_queries", 0) for r in results)
    if args.json:
        print(
            json.dumps(
                {
                    "results": [
                        {
                            "id": r.id,
                            "method": r.method,
                            "n": r.n,
                            "adapter": r.adapter,
                            "metrics": {k: v for k, v in r.metrics.items() if k != "intervals"},
                            "intervals": {k: i.as_dict() for k, i in intervals_of(r).items()},
                        }
                        for r in results
                    ],
                    "comparisons": [comparison_json(a, b, d) for a, b, d in comparisons],
                }
            )
        )
        return EXIT_FAILURES if failed else 0
    print(eval_table(opts.task, results))
    for a, b, diffs in comparisons:
        print("\n" + comparison_table(a, b, diffs))
    sent = sum(r.metrics.get("strong_sent", 0) for r in results)
    reused = sum(r.metrics.get("strong_reused", 0) for r in results)
    print(f"strong requests: {sent} sent, {reused} reused from the store")
    if failed:
        print(f"{failed} queries had a failed model call (counted as misses); rerun the same command to retry them")
    return EXIT_FAILURES if failed else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from cowest.console import comparison_table
    from cowest.evidence import compare, comparison_json, find_eval

    store = store_of(args, read_only=True)
    a, b = find_eval(store, args.a, args.run), find_eval(store, args.b, args.run)
    diffs = compare(a, b)
    print(json.dumps(comparison_json(a, b, diffs)) if args.json else comparison_table(a, b, diffs))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from cowest.scoring import read_predictions, score_predictions
    from cowest.tasks import get_task

    check_data(args)
    task = get_task(args.task)
    examples = task.load(args.data, limit=args.limit).examples
    result = score_predictions(task, examples, read_predictions(args.predictions))
    intervals = result.pop("intervals")
    if args.json:
        print(json.dumps({**result, "intervals": {k: i.as_dict() for k, i in intervals.items()}}))
    else:
        # The same cells as `eval`: a metric never comes without its n and 95% interval
        cells = [f"{name} {interval}" for name, interval in intervals.items()]
        counts = [f"{k} {result[k]}" for k in ("n", "unparseable", "missing")]
        print("  ".join(cells + counts))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from cowest.report import write_report

    for path in write_report(store_of(args, read_only=True), args.out, args.run):
        print(f"wrote {path}")
    return 0
