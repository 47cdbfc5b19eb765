"""`cowest pairs export`, `cowest examples export`, `cowest traces export`."""

from __future__ import annotations

import json

from . import add_db, store_of


def register(sub) -> None:
    pairs = sub.add_parser("pairs", help="preference pairs").add_subparsers(metavar="ACTION")
    pe = pairs.add_parser("export", help="write DIR/train.jsonl in TRL's conversational preference format")
    pe.add_argument("--run", required=True)
    pe.add_argument("--round", type=int)
    pe.add_argument("--out", required=True, help="output folder")
    add_db(pe)
    pe.set_defaults(func=cmd_pairs_export)

    examples = sub.add_parser("examples", help="labelled drafts (KTO)").add_subparsers(metavar="ACTION")
    ee = examples.add_parser(
        "export", help="write DIR/train.jsonl in TRL's unpaired preference format (prompt, completion, label)"
    )
    ee.add_argument("--run", required=True)
    ee.add_argument("--round", type=int)
    ee.add_argument("--out", required=True, help="output folder")
    add_db(ee)
    ee.set_defaults(func=cmd_examples_export)

    traces = sub.add_parser("traces", help="model-call traces").add_subparsers(metavar="ACTION")
    te = traces.add_parser("export", help="write one JSON object per model call")
    te.add_argument("--run", required=True)
    te.add_argument("--out", required=True, help="output .jsonl file")
    add_db(te)
    te.set_defaults(func=cmd_traces_export)


def cmd_pairs_export(args) -> int:
    from cowest.storage import export_pairs

    path = export_pairs(store_of(args, read_only=True), args.run, args.out, args.round)
    print(f"wrote {_lines(path)} pairs to {path}")
    return 0


def cmd_examples_export(args) -> int:
    from cowest.storage import export_examples

    store = store_of(args, read_only=True)
    path = export_examples(store, args.run, args.out, args.round)
    with open(path, encoding="utf-8") as fh:
        labels = [json.loads(line)["label"] for line in fh]
    print(f"wrote {len(labels)} examples ({sum(labels)} desirable, {len(labels) - sum(labels)} undesirable) to {path}")
    if not labels:
        run_id = store.run_id(args.run)
        if not any(c.role == "weak_draft" for c in store.calls_of(run_id, args.round)):
            print(f"run {args.run!r} has no drafts" + (f" in round {args.round}" if args.round is not None else ""))
        else:
            print(
                "no examples: a run collected before the store recorded them (schema 0004) has none; rerun the "
                "same `cowest collect` (every call is read back from the store, nothing is sent) to record them"
            )
    return 0


def cmd_traces_export(args) -> int:
    from cowest.storage import export_traces

    path = export_traces(store_of(args, read_only=True), args.run, args.out)
    print(f"wrote {_lines(path)} calls to {path}")
    return 0


def _lines(path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for _ in fh)
