"""The `cowest` command line."""
from __future__ import annotations

import argparse
import os
import sys

from cowest.settings import Settings

EXIT_USAGE = 2


class CliError(Exception):
    """Bad input: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    _quiet_libraries()
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("cowest: interrupted; finished calls are stored, run the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"cowest: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _is_user_error(exc: Exception) -> bool:
    from cowest.nodes.models import ModelCallError, ModelSpecError
    from cowest.storage import StoreError
    from cowest.tasks import DataError

    return isinstance(exc, (CliError, DataError, ModelSpecError, ModelCallError, StoreError, FileNotFoundError,
                            ValueError, RuntimeError)) and not isinstance(exc, NotImplementedError)


def _one_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _quiet_libraries() -> None:
    """Our own progress bars and summaries are the output; silence the libraries' chatter."""
    import logging
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="transformers")


# -- commands ------------------------------------------------------------------------------------
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
    from cowest.collect import CollectOptions, collect
    from cowest.console import collect_summary

    if not os.path.exists(args.data):
        raise CliError(f"{args.data}: no such file")
    opts = CollectOptions(
        task=args.task, data=args.data, limit=args.limit, samples=args.samples, run=args.run, round=args.round,
        weak=args.weak, strong=args.strong, judge=args.judge, judge_model=args.judge_model, format=args.format,
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, db=args.db,
        concurrency=args.concurrency, retry_failed=args.retry_failed,
    )
    summary = collect(opts)
    print(collect_summary(summary))
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


def cmd_pairs_export(args) -> int:
    from cowest.storage import export_pairs, get_store

    store = get_store(args.db or Settings.from_env().db)
    path = export_pairs(store, args.run, args.out, args.round)
    n = sum(1 for _ in open(path, encoding="utf-8"))
    print(f"wrote {n} pairs to {path}")
    return 0


def cmd_traces_export(args) -> int:
    from cowest.storage import export_traces, get_store

    store = get_store(args.db or Settings.from_env().db)
    path = export_traces(store, args.run, args.out)
    n = sum(1 for _ in open(path, encoding="utf-8"))
    print(f"wrote {n} calls to {path}")
    return 0


# -- argument parsing ----------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    from cowest.tasks import TASKS

    p = argparse.ArgumentParser(prog="cowest", description="Weak-strong model collaboration (CoWeSt).")
    sub = p.add_subparsers(metavar="COMMAND")
    db_help = "SQLAlchemy URL of the trace store (default: $COWEST_DB or sqlite:///cowest.db)"

    ask = sub.add_parser("ask", help="answer one question: the weak model drafts, the strong model refines")
    ask.add_argument("question")
    ask.add_argument("--task", default="open", choices=list(TASKS), help="how to read the answer (default: open)")
    _model_args(ask)
    ask.add_argument("--show-draft", action="store_true", help="print the weak model's draft too")
    ask.add_argument("--db", help=db_help)
    ask.set_defaults(func=cmd_ask)

    col = sub.add_parser("collect", help="collect preference pairs over a task file (Algorithm 1)")
    col.add_argument("--task", required=True, choices=[t for t in TASKS if t != "open"])
    col.add_argument("--data", required=True, help="task file (JSON array or JSON Lines)")
    col.add_argument("--limit", type=int, help="first N usable rows")
    col.add_argument("--samples", type=int, default=4, help="K weak drafts per query (default 4)")
    col.add_argument("--run", help="run name (default: derived from the options, so reruns resume)")
    col.add_argument("--round", type=int, default=1)
    _model_args(col)
    col.add_argument("--judge", choices=["llm", "exact"], default="llm")
    col.add_argument("--judge-model", help="judge model spec (default: the strong model)")
    col.add_argument("--temperature", type=float, default=1.0, help="weak sampling temperature (default 1.0)")
    col.add_argument("--top-p", type=float, default=0.9, help="weak sampling top-p (default 0.9)")
    col.add_argument("--db", help=db_help)
    col.add_argument("--concurrency", type=int, default=4, help="queries in flight at once (default 4)")
    col.add_argument("--retry-failed", action="store_true", help="redo stored calls that ended in an error")
    col.set_defaults(func=cmd_collect)

    runs = sub.add_parser("runs", help="list runs with their counts")
    runs.add_argument("--db", help=db_help)
    runs.set_defaults(func=cmd_runs)

    pairs = sub.add_parser("pairs", help="preference pairs").add_subparsers(metavar="ACTION")
    pe = pairs.add_parser("export", help="write DIR/train.jsonl in TRL's conversational preference format")
    pe.add_argument("--run", required=True)
    pe.add_argument("--round", type=int)
    pe.add_argument("--out", required=True, help="output folder")
    pe.add_argument("--db", help=db_help)
    pe.set_defaults(func=cmd_pairs_export)

    traces = sub.add_parser("traces", help="model-call traces").add_subparsers(metavar="ACTION")
    te = traces.add_parser("export", help="write one JSON object per model call")
    te.add_argument("--run", required=True)
    te.add_argument("--out", required=True, help="output .jsonl file")
    te.add_argument("--db", help=db_help)
    te.set_defaults(func=cmd_traces_export)
    return p


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weak", default="smollm2", help="weak model spec (default: smollm2, the bundled model)")
    p.add_argument("--strong", help="strong model spec (default: openai:<model> when an API is configured, else smollm2)")
    p.add_argument("--format", choices=["direct", "knowledge", "cot"], default="cot", help="draft format (default cot)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="generation budget per call (default 256)")


if __name__ == "__main__":
    sys.exit(main())
