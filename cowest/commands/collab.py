"""`cowest ask`, `cowest collect`, `cowest runs`."""
from __future__ import annotations

from cowest.settings import Settings

from . import CliError, add_collect_args, add_db, add_model_args, collect_options


def register(sub) -> None:
    from cowest.tasks import TASKS

    ask = sub.add_parser("ask", help="answer one question: the weak model drafts, the strong model refines")
    ask.add_argument("question")
    ask.add_argument("--task", default="open", choices=list(TASKS), help="how to read the answer (default: open)")
    add_model_args(ask)
    ask.add_argument("--show-draft", action="store_true", help="print the weak model's draft too")
    add_db(ask)
    ask.set_defaults(func=cmd_ask)

    col = sub.add_parser("collect", help="collect preference pairs over a task file (Algorithm 1)")
    add_collect_args(col)
    col.add_argument("--round", type=int, default=1)
    col.set_defaults(func=cmd_collect)

    runs = sub.add_parser("runs", help="list runs with their counts")
    add_db(runs)
    runs.set_defaults(func=cmd_runs)


def cmd_ask(args) -> int:
    from cowest.graph import CollabContext, build_graph
    from cowest.nodes.models import check_specs

    settings = Settings.from_env()
    ctx = CollabContext(mode="infer", task=args.task, weak=args.weak, strong=args.strong or "",
                        format=args.format, max_new_tokens=args.max_new_tokens,
                        db=args.db or settings.db, run=f"ask-{args.task}")
    check_specs([ctx.weak, ctx.strong], settings)
    state = build_graph().invoke({"query": args.question}, context=ctx)
    draft = (state.get("drafts") or [{}])[0]
    final = (state.get("refinements") or [{}])[0]
    for step, who in ((draft, "weak draft"), (final, "strong refinement")):
        if step.get("error"):
            raise CliError(f"{who} failed: {step['error']}")
    if args.show_draft:
        print(f"--- weak draft ({ctx.weak}) ---\n{draft.get('text', '')}\n")
    print(f"--- answer ({ctx.strong}, refining the draft) ---\n{final.get('text', '')}")
    return 0


def cmd_collect(args) -> int:
    from cowest.collect import collect
    from cowest.console import collect_summary

    print(collect_summary(collect(collect_options(args, round=args.round))))
    return 0


def cmd_runs(args) -> int:
    from cowest.console import table
    from cowest.storage import get_store

    rows = get_store(args.db or Settings.from_env().db).run_counts()
    if not rows:
        print("no runs yet")
        return 0
    print(table(["run", "task", "rounds", "queries", "calls", "pairs", "failures"],
                [[r.name, r.task, ",".join(map(str, r.rounds)) or "-", r.queries, r.calls, r.pairs, r.failures]
                 for r in rows]))
    return 0
