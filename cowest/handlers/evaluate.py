"""Running `cowest eval`, `cowest score`, `cowest report`."""

from __future__ import annotations

import argparse
import json

from cowest.console import comparison_table, eval_table
from cowest.core import EXIT_FAILURES
from cowest.evaluation import EvalOptions, evaluate
from cowest.evidence import compare, comparison_json, find_eval, intervals_of
from cowest.report import write_report
from cowest.scoring import read_predictions, score_predictions
from cowest.tasks import get_task

from . import check_data, from_args, store_of


def cmd_eval(args: argparse.Namespace) -> int:
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
    store = store_of(args, read_only=True)
    a, b = find_eval(store, args.a, args.run), find_eval(store, args.b, args.run)
    diffs = compare(a, b)
    print(json.dumps(comparison_json(a, b, diffs)) if args.json else comparison_table(a, b, diffs))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
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
    for path in write_report(store_of(args, read_only=True), args.out, args.run):
        print(f"wrote {path}")
    return 0
