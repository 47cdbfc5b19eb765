"""`cowest eval`: the paper's methods and baselines on the same queries, with the same metrics.

Every method is a mode of the one graph plus a choice of which output is final; none copies a node.
Calls already in the store are reused (a weak draft that `weak` made is the draft `collab` refines).
"""

from __future__ import annotations

import hashlib
import time

from cowest.core import BadInput, copy_as
from cowest.graph import CollabContext, CollabState
from cowest.graph.modes import MODES
from cowest.nodes.models import ModelSettings, check_specs
from cowest.storage import EvalResult, get_store
from cowest.tasks import data_identity, get_task
from cowest.tasks.metrics import score_task

from .options import METHODS, EvalOptions, Method
from .runner import run_over


def evaluate(opts: EvalOptions, settings: ModelSettings | None = None, progress: bool = True) -> list[EvalResult]:
    opts.check_eval()
    task = get_task(opts.task)
    examples = task.load(opts.data, limit=opts.limit, offset=opts.offset).examples
    if not examples:
        raise BadInput(f"{opts.data}: no usable rows")
    strong = opts.strong
    check_specs([opts.weak, strong], settings)
    data_hash = _file_hash(opts.data)
    run = opts.run or f"eval-{opts.task}-{data_hash[:8]}"
    db = opts.store_url
    store = get_store(db)
    run_id = store.ensure_run(run, opts.task, data_path=data_identity(opts.data), config={"kind": "eval"})
    for ex in examples:
        store.ensure_query(run_id, ex.id, ex.query, ex.gold, ex.line)

    results = []
    for name in opts.methods:
        method = METHODS[name]
        for fmt in opts.formats if method.drafts else ["cot"]:
            label = f"{name}[{fmt}]" if method.drafts and len(opts.formats) > 1 else name
            adapter = opts.adapter if method.uses_adapter else None
            weak = f"{opts.weak}@{adapter}" if adapter else opts.weak
            ctx = copy_as(
                CollabContext,
                opts,
                mode=method.mode,
                weak=weak,
                format=fmt,
                solo_format=method.solo_format,
                db=db,
                run=run,
            )
            start = time.perf_counter()
            answers, strong_ids, failed = {}, [], 0
            for ex, state, _error in run_over(
                examples, ctx, opts.concurrency, f"eval {label}", progress, with_gold=False
            ):
                answers[ex.id] = state.get("answer") if state else None
                failed += state is None or _has_failed_step(state)
                if state:
                    strong_ids += _strong_call_ids(state, method)
            metrics = score_task(task, examples, [answers.get(ex.id) for ex in examples])
            metrics["failed_queries"] = failed
            calls = store.calls_by_id(strong_ids)
            results.append(
                store.save_eval(
                    EvalResult(
                        run_id=run_id,
                        method=label,
                        task=opts.task,
                        data_path=data_identity(opts.data),
                        data_hash=data_hash,
                        weak=weak if MODES[method.mode].uses_weak else None,
                        strong=strong if MODES[method.mode].uses_strong else None,
                        adapter=adapter or "",
                        n=len(examples),
                        metrics=metrics,
                        strong_calls=len(strong_ids),
                        strong_tokens=sum((c.tokens_in or 0) + (c.tokens_out or 0) for c in calls.values()),
                        seconds=time.perf_counter() - start,
                    )
                )
            )
    return results


def _has_failed_step(state: CollabState) -> bool:
    steps = [state.get("solo") or {}, *state.get("drafts", []), *state.get("refinements", [])]
    return any(step.get("error") for step in steps) or any(r.get("error") for r in state.get("revisions", []))


def _strong_call_ids(state: CollabState, method: Method) -> list[int | None]:
    ids = []
    solo = state.get("solo")
    if solo:
        ids.append(solo.get("call_id"))
    ids += [r.get("call_id") for r in state.get("refinements", [])]
    if MODES[method.mode].revises == "solo":  # the strong model revising its own answer
        ids += [r.get("call_id") for r in state.get("revisions", [])]
    return ids


def _file_hash(path: str) -> str:
    if path.startswith("hf:"):
        return hashlib.sha256(path.encode()).hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def metric_names(task: str) -> tuple[str, str]:
    return ("exact_match", "f1") if get_task(task).labels is None else ("accuracy", "macro_f1")
