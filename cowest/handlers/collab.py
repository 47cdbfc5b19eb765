"""Running `cowest ask`, `cowest collect`, `cowest runs`."""

from __future__ import annotations

import argparse
import sys

from cowest.collect import CollectOptions, collect, exit_code
from cowest.console import collect_summary, table
from cowest.core import EXIT_FAILURES
from cowest.graph import CollabContext, build_graph
from cowest.models import check_specs
from cowest.models.engines import check_engine
from cowest.storage import default_url

from . import check_data, from_args, store_of


def cmd_ask(args: argparse.Namespace) -> int:
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
    check_data(args)
    summary = collect(from_args(CollectOptions, args))
    print(collect_summary(summary))
    return exit_code(summary)


def cmd_runs(args: argparse.Namespace) -> int:
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
