"""`cowest pairs export`, `cowest examples export`, `cowest traces export`."""

from __future__ import annotations

from . import add_db, group, handled_by


def register(sub) -> None:
    pairs = group(sub, "pairs", "ACTION")
    pe = pairs.add_parser("export", help="write DIR/train.jsonl in TRL's conversational preference format")
    pe.add_argument("--run", required=True)
    pe.add_argument("--round", type=int)
    pe.add_argument("--out", required=True, help="output folder")
    add_db(pe)
    handled_by(pe, "exports:cmd_pairs_export")

    examples = group(sub, "examples", "ACTION")
    ee = examples.add_parser(
        "export", help="write DIR/train.jsonl in TRL's unpaired preference format (prompt, completion, label)"
    )
    ee.add_argument("--run", required=True)
    ee.add_argument("--round", type=int)
    ee.add_argument("--out", required=True, help="output folder")
    add_db(ee)
    handled_by(ee, "exports:cmd_examples_export")

    traces = group(sub, "traces", "ACTION")
    te = traces.add_parser("export", help="write one JSON object per model call")
    te.add_argument("--run", required=True)
    te.add_argument("--out", required=True, help="output .jsonl file")
    add_db(te)
    handled_by(te, "exports:cmd_traces_export")
