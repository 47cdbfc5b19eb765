"""`cowest pairs export`, `cowest traces export`."""

from __future__ import annotations

from . import add_db, store_of


def register(sub) -> None:
    pairs = sub.add_parser("pairs", help="preference pairs").add_subparsers(metavar="ACTION")
    pe = pairs.add_parser("export", help="write DIR/train.jsonl in TRL's conversational preference format")
    pe.add_argument("--run", required=True)
    pe.add_argument("--round", type=int)
    pe.add_argument("--out", required=True, help="output folder")
    add_db(pe)
    pe.set_defaults(func=cmd_pairs_export)

    traces = sub.add_parser("traces", help="model-call traces").add_subparsers(metavar="ACTION")
    te = traces.add_parser("export", help="write one JSON object per model call")
    te.add_argument("--run", required=True)
    te.add_argument("--out", required=True, help="output .jsonl file")
    add_db(te)
    te.set_defaults(func=cmd_traces_export)


def cmd_pairs_export(args) -> int:
    from cowest.storage import export_pairs

    path = export_pairs(store_of(args), args.run, args.out, args.round)
    print(f"wrote {_lines(path)} pairs to {path}")
    return 0


def cmd_traces_export(args) -> int:
    from cowest.storage import export_traces

    path = export_traces(store_of(args), args.run, args.out)
    print(f"wrote {_lines(path)} calls to {path}")
    return 0


def _lines(path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for _ in fh)
