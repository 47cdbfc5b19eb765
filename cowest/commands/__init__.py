"""The CLI's commands, one module per area; each registers its own sub-parsers."""
from __future__ import annotations

import argparse

DB_HELP = "SQLAlchemy URL of the trace store (default: $COWEST_DB or sqlite:///cowest.db)"


class CliError(Exception):
    """Bad input: printed as one line, exit status 2."""


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help=DB_HELP)


def add_model_args(p: argparse.ArgumentParser, strong: bool = True) -> None:
    p.add_argument("--weak", default="smollm2", help="weak model spec (default: smollm2, the bundled model)")
    if strong:
        p.add_argument("--strong", help="strong model spec (default: openai:<model> when an API is configured, else smollm2)")
    p.add_argument("--format", choices=["direct", "knowledge", "cot"], default="cot", help="draft format (default cot)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="generation budget per call (default 256)")


def add_collect_args(p: argparse.ArgumentParser) -> None:
    """The flags of a collection, shared by `collect` and `rounds`."""
    from cowest.tasks import TASKS

    p.add_argument("--task", required=True, choices=[t for t in TASKS if t != "open"])
    p.add_argument("--data", required=True, help="task file (JSON array or JSON Lines)")
    p.add_argument("--limit", type=int, help="first N usable rows (per round with --fresh-queries)")
    p.add_argument("--samples", type=int, default=4, help="K weak drafts per query (default 4)")
    p.add_argument("--run", help="run name (default: derived from the options, so reruns resume)")
    add_model_args(p)
    p.add_argument("--judge", choices=["llm", "exact"], default="llm")
    p.add_argument("--judge-model", help="judge model spec (default: the strong model)")
    p.add_argument("--temperature", type=float, default=1.0, help="weak sampling temperature (default 1.0)")
    p.add_argument("--top-p", type=float, default=0.9, help="weak sampling top-p (default 0.9)")
    add_db(p)
    p.add_argument("--concurrency", type=int, default=4, help="queries in flight at once (default 4)")
    p.add_argument("--retry-failed", action="store_true", help="redo stored calls that ended in an error")


def check_data(path: str) -> None:
    """A data argument is a file that exists or a hub name `hf:OWNER/NAME[:SPLIT]`."""
    import os

    if not path.startswith("hf:") and not os.path.exists(path):
        raise CliError(f"{path}: no such file")


def collect_options(args, **extra):
    from cowest.collect import CollectOptions

    check_data(args.data)
    if args.samples < 1:
        raise CliError("--samples must be at least 1")
    return CollectOptions(
        task=args.task, data=args.data, limit=args.limit, samples=args.samples, run=args.run,
        weak=args.weak, strong=args.strong, judge=args.judge, judge_model=args.judge_model, format=args.format,
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, db=args.db,
        concurrency=args.concurrency, retry_failed=args.retry_failed, **extra,
    )
