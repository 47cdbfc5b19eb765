"""Exports: preference pairs and labelled examples in TRL's conversational formats, and raw call traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .store import TraceStore


def _data_order(query: Any) -> tuple:
    """Where a query stands in its data file: its line (then its id, for rows without one)."""
    return (query.line if query.line is not None else float("inf"), query.qid)


def preference_rows(store: TraceStore, run: str, round: int | None = None) -> list[dict]:
    """One row per pair: `prompt` (the weak model's prompt messages), `chosen` and `rejected` (one
    assistant message each), plus the ids that trace it back to its query and its two draft rows.
    In the data's order (round, query's line, the chosen draft's sample index), not in the order the
    rows were written, which follows which query finished first: an interrupted run and an
    uninterrupted one train on the same sequence of pairs."""
    run_id = store.run_id(run)
    calls = {c.id: c for c in store.calls_of(run_id)}
    queries = store.queries_of(run_id)
    rows = []
    ordered = sorted(
        store.pairs_of(run_id, round),
        key=lambda p: (p.round, _data_order(queries[p.query_id]), calls[p.chosen_id].sample_index, p.id),
    )
    for pair in ordered:
        chosen, rejected = calls[pair.chosen_id], calls[pair.rejected_id]
        rows.append(
            {
                "prompt": chosen.prompt,
                "chosen": [{"role": "assistant", "content": chosen.output or ""}],
                "rejected": [{"role": "assistant", "content": rejected.output or ""}],
                "query_id": queries[pair.query_id].qid,
                "round": pair.round,
                "pair_id": pair.id,
                "chosen_call_id": chosen.id,
                "rejected_call_id": rejected.id,
            }
        )
    return rows


def export_pairs(store: TraceStore, run: str, out_dir: str | Path, round: int | None = None) -> Path:
    """Write `out_dir/train.jsonl`, a folder `trl dpo --dataset_name out_dir` trains on."""
    return _write_train_file(out_dir, preference_rows(store, run, round))


def example_rows(store: TraceStore, run: str, round: int | None = None) -> list[dict]:
    """One row per judged draft that took a side, in TRL's unpaired preference format: `prompt` (the
    weak model's prompt messages), `completion` (one assistant message), `label` (True: desirable,
    its collaboration beat the strong model alone), plus Δ and the ids that trace it back."""
    run_id = store.run_id(run)
    queries = store.queries_of(run_id)
    examples = sorted(
        store.examples_of(run_id, round), key=lambda e: (e.round, _data_order(queries[e.query_id]), e.idx, e.id)
    )  # in the data's order, as preference_rows
    drafts = store.calls_by_id(e.draft_id for e in examples)
    return [
        {
            "prompt": drafts[e.draft_id].prompt,
            "completion": [{"role": "assistant", "content": drafts[e.draft_id].output or ""}],
            "label": e.desirable,
            "delta": e.delta,
            "query_id": queries[e.query_id].qid,
            "round": e.round,
            "example_id": e.id,
            "draft_call_id": e.draft_id,
        }
        for e in examples
    ]


def export_examples(store: TraceStore, run: str, out_dir: str | Path, round: int | None = None) -> Path:
    """Write `out_dir/train.jsonl`, a folder `trl kto --dataset_name out_dir` trains on."""
    return _write_train_file(out_dir, example_rows(store, run, round))


def _write_train_file(out_dir: str | Path, rows: list[dict]) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "train.jsonl"
    _write_jsonl(path, rows)
    return path


def trace_rows(store: TraceStore, run: str) -> list[dict]:
    run_id = store.run_id(run)
    queries = store.queries_of(run_id)
    return [
        {
            "id": c.id,
            "role": c.role,
            "query_id": queries[c.query_id].qid,
            "round": c.round,
            "sample_index": c.sample_index,
            "parent_id": c.parent_id,
            "reused_from": c.reused_from,  # the call another run (or an identical one here) sent
            "billed": c.billed,
            "model": c.model,
            "adapter": c.adapter,
            "answer": c.answer,
            "score": c.score,
            "error": c.error,
            "tokens_in": c.tokens_in,
            "tokens_out": c.tokens_out,
            "latency_s": c.latency_s,
            "prompt": c.prompt,
            "output": c.output,
        }
        for c in store.calls_of(run_id)
    ]


def export_traces(store: TraceStore, run: str, out_file: str | Path) -> Path:
    path = Path(out_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_jsonl(path, trace_rows(store, run))
    return path


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")  # never leave a half-written file behind
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
