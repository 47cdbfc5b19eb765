"""Running `cowest pairs export`, `cowest examples export`, `cowest traces export`."""

from __future__ import annotations

import json

from cowest.storage import export_examples, export_pairs, export_traces

from . import store_of


def cmd_pairs_export(args) -> int:
    path = export_pairs(store_of(args, read_only=True), args.run, args.out, args.round)
    print(f"wrote {_lines(path)} pairs to {path}")
    return 0


def cmd_examples_export(args) -> int:
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
    path = export_traces(store_of(args, read_only=True), args.run, args.out)
    print(f"wrote {_lines(path)} calls to {path}")
    return 0


def _lines(path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for _ in fh)
