"""`cowest ask`, `cowest collect`, `cowest runs`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cowest.core import EXIT_FAILURES

from . import BUDGET_FLAGS, COLLAB_FLAGS, add_db, add_options, check_data, from_args, store_of

COLLECT_FLAGS: tuple[str, ...] = COLLAB_FLAGS + ("samples", "judge", "judge_model", "temperature", "top_p")
COLLECT_FLAGS += ("retry_failed", "cache", "feedback", "annotator")
JOB_FLAGS = ("data", "limit", "offset", "concurrency", "run", "db", "max_failures", "lease_seconds") + BUDGET_FLAGS


def register(sub: Any) -> None:  # argparse's subparsers action
    from cowest.nodes.context import CollabContext

    ask = sub.add_parser("ask", help="answer one question: the weak model drafts, the strong model refines")
    ask.add_argument("question")
    add_options(ask, CollabContext, COLLAB_FLAGS)
    ask.add_argument("--show-draft", action="store_true", help="print the weak model's draft too")
    add_db(ask)
    ask.set_defaults(func=cmd_ask)

    col = sub.add_parser("collect", help="collect preference pairs over a task file (Algorithm 1)")
    add_collect_flags(col, ("round", "seed"))
    col.set_defaults(func=cmd_collect)

    runs = sub.add_parser("runs", help="list runs with their counts")
    add_db(runs)
    runs.set_defaults(func=cmd_runs)


def add_collect_flags(p: argparse.ArgumentParser, extra: tuple[str, ...] = ()) -> None:
    """The flags of a collection, shared by `collect` and `rounds`."""
    from cowest.options import CollectOptions

    add_options(p, CollectOptions, COLLECT_FLAGS + JOB_FLAGS + extra, required=("task",))


def cmd_ask(args: argparse.Namespace) -> int:
    from cowest.graph import CollabContext, build_graph
    from cowest.models import check_specs
    from cowest.models.engines import check_engine
    from cowest.storage import default_url

    ctx = from_args(CollabContext, args, mode="infer", db=args.db or default_url(), run=f"ask-{args.task}")
    check_specs([ctx.weak, ctx.strong])
    check_engine(ctx.weak_engine, ctx.weak_spec)
    local = sorted({str(s) for s in (ctx.weak_spec, ctx.strong_spec) if s.provider == "huggingface"})
    if local:  # else the first line would come after a silent minute of loading and decoding
        note = "run(s) on this machine: loading and answering take a minute or so on a CPU"
        print(f"cowest: {', '.join(local)} {note}", file=sys.stderr)
    state = build_graph().invoke({"query": args.question}, context=ctx)
    draft = (state.get("drafts") or [{}])[0]
    final = (state.get("refinements") or [{}])[0]
    if args.show_draft:
        print(f"--- weak draft ({ctx.weak}) ---\n{draft.get('text') or ''}\n")
    for step, who in ((draft, "weak draft"), (final, "strong refinement")):
        if step.get("error"):
            print(f"cowest: the {who} failed: {step['error']}", file=sys.stderr)
            return EXIT_FAILURES
    print(f"--- answer ({ctx.strong}, refining the draft) ---\n{final.get('text', '')}")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from cowest.collect import CollectOptions, collect, exit_code
    from cowest.console import collect_summary

    check_data(args)
    summary = collect(from_args(CollectOptions, args))
    print(collect_summary(summary))
    return exit_code(summary)


def cmd_runs(args: argparse.Namespace) -> int:
    from cowest.console import table

    rows = store_of(args, read_only=True).run_counts()
    if not rows:
        print("no runs yet")
        return 0
    print(
        table(
            # Rows, not requests: exact judgments and reused calls are rows too (collect counts requests)
            ["run", "task", "rounds", "queries", "calls stored", "pairs", "failures"],
            [
                [r.name, r.task, ",".join(map(str, r.rounds)) or "-", r.queries, r.calls, r.pairs, r.failures]
                for r in rows
            ],
        )
    )
    return 0
