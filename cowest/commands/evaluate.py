"""`cowest eval`, `cowest score`, `cowest report`."""
from __future__ import annotations

import json
import os

from cowest.settings import Settings

from . import CliError, add_db, check_data


def register(sub) -> None:
    from cowest.tasks import TASKS

    tasks = [t for t in TASKS if t != "open"]
    ev = sub.add_parser("eval", help="run methods and baselines on the same queries; store and print metrics")
    ev.add_argument("--task", required=True, choices=tasks)
    ev.add_argument("--data", required=True)
    ev.add_argument("--limit", type=int)
    ev.add_argument("--offset", type=int, default=0, help="skip the first N rows (e.g. those used for training)")
    ev.add_argument("--methods", required=True, help="comma list: weak, weak-sft, weak-self-refine, strong, "
                                                     "strong-cot, strong-self-refine, supericl, collab")
    ev.add_argument("--formats", default="cot", help="draft formats for the methods that draft (default cot)")
    ev.add_argument("--weak", default="smollm2")
    ev.add_argument("--strong")
    ev.add_argument("--adapter", help="weak adapter for weak-sft, supericl and collab (collab without it: no alignment)")
    ev.add_argument("--run", help="run name (default: derived from task and data)")
    ev.add_argument("--max-new-tokens", type=int, default=256)
    ev.add_argument("--concurrency", type=int, default=4)
    add_db(ev)
    ev.set_defaults(func=cmd_eval)

    sc = sub.add_parser("score", help="score a predictions file made elsewhere with the same parsing and metrics")
    sc.add_argument("--task", required=True, choices=tasks)
    sc.add_argument("--data", required=True)
    sc.add_argument("--limit", type=int)
    sc.add_argument("--predictions", required=True, help='JSON Lines: {"id": ..., "answer": ...} or {"id": ..., "output": ...}')
    sc.add_argument("--json", action="store_true", help="print one JSON object")
    sc.set_defaults(func=cmd_score)

    rp = sub.add_parser("report", help="write report.md with a Table-1-style table and PNG plots")
    rp.add_argument("--run", help="only this run (default: every run in the store)")
    rp.add_argument("--out", default="report", help="output folder (default report/)")
    add_db(rp)
    rp.set_defaults(func=cmd_report)


def cmd_eval(args) -> int:
    from cowest.console import eval_table
    from cowest.evaluation import EvalOptions, evaluate, parse_methods

    check_data(args.data)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("direct", "knowledge", "cot")]
    if bad or not formats:
        raise CliError(f"unknown draft format(s) {', '.join(bad) or '(none)'}; choose from direct, knowledge, cot")
    if args.adapter and not os.path.isfile(os.path.join(args.adapter, "adapter_config.json")):
        raise CliError(f"{args.adapter}: not a PEFT adapter folder")
    opts = EvalOptions(task=args.task, data=args.data, methods=parse_methods(args.methods), limit=args.limit, offset=args.offset,
                       formats=formats, weak=args.weak, strong=args.strong, adapter=args.adapter, run=args.run,
                       db=args.db, max_new_tokens=args.max_new_tokens, concurrency=args.concurrency)
    print(eval_table(args.task, evaluate(opts)))
    return 0


def cmd_score(args) -> int:
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


def cmd_report(args) -> int:
    from cowest.report import write_report
    from cowest.storage import get_store

    path = write_report(get_store(args.db or Settings.from_env().db), args.out, args.run)
    print(f"wrote {path}")
    return 0
