"""`cowest eval`: the paper's methods and baselines on the same queries, with the same metrics.

Every method is a mode of the one graph plus a choice of which output is final; none copies a node.
Calls already in the store are reused (a weak draft that `weak` made is the draft `collab` refines).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cowest.core import BadInput, BudgetExceeded, copy_as
from cowest.graph import CollabContext, CollabState
from cowest.models import ModelSettings, check_specs
from cowest.models.engines import check_engine
from cowest.nodes.ledger import keeping_ledger
from cowest.nodes.modes import MODES
from cowest.nodes.retrievers import corpus_retriever
from cowest.storage import EvalResult, get_store
from cowest.tasks import Example, data_identity, get_task
from cowest.tasks.metrics import score_task
from cowest.tasks.stats import QueryScores, per_query_records

from .eval_options import METHODS, EvalOptions, Method, method_labels
from .runner import StoredQueries, run_over
from .spending import Spending


def evaluate(
    opts: EvalOptions, settings: ModelSettings | None = None, progress: bool = True, desc: str = ""
) -> list[EvalResult]:
    """Each method over the same queries, stored; `desc` names the bars (default `eval METHOD`)."""
    opts.check_eval()
    task = get_task(opts.task)
    examples = task.load(opts.data, limit=opts.limit, offset=opts.offset).examples
    if not examples:
        raise BadInput(f"{opts.data}: no usable rows")
    strong = opts.strong
    check_specs([opts.weak, strong], settings)
    check_engine(opts.weak_engine, opts.weak)
    data_hash = _file_hash(opts.data)
    run = eval_run_name(opts)
    db = opts.store_url
    store = get_store(db)
    run_id = store.ensure_run(run, opts.task, data_path=data_identity(opts.data), config={"kind": "eval"})
    query_pks = store.ensure_queries(run_id, [(ex.id, ex.query, ex.gold, ex.line) for ex in examples])

    budget = opts.budget(store.spent(run_id))
    target = _Target(task, examples, StoredQueries(run_id, query_pks), data_hash)
    return [
        _evaluate_method(opts, target, store, label, method, ctx, budget, desc or f"eval {label}", progress)
        for label, method, ctx in method_contexts(opts, run, db)
    ]


@dataclass
class _Target:
    """What every method of one evaluation runs on."""

    task: Any
    examples: list[Example]
    stored: StoredQueries
    data_hash: str


def _evaluate_method(opts, target, store, label, method, ctx, budget, desc, progress) -> EvalResult:
    """One method over the queries, scored and stored."""
    task, examples = target.task, target.examples
    start = time.perf_counter()
    answers, strong_ids, failed = {}, [], 0
    with keeping_ledger(opts.max_failures, budget) as ledger:
        queries = run_over(examples, ctx, opts.concurrency, desc, progress, with_gold=False, stored=target.stored)
        for ex, state, _error in queries:
            answers[ex.id] = state.get("answer") if state else None
            failed += state is None or _has_failed_step(state)
            if state:
                strong_ids += _strong_call_ids(state, method)
    if ledger.budget_hit:  # a partial method scores nothing; a rerun reuses what it sent
        raise BudgetExceeded(f"eval {label}: {budget.describe()}")
    spending = Spending.of(ledger)
    predictions = [answers.get(ex.id) for ex in examples]
    metrics = score_task(task, examples, predictions)
    records = per_query_records(task, examples, predictions)
    intervals = QueryScores(records, task.labels).intervals()
    metrics.update(failed_queries=failed, strong_sent=spending.sent, strong_reused=spending.reused)
    metrics["intervals"] = {name: interval.as_dict() for name, interval in intervals.items()}
    if task.labels:  # the label set macro-F1 averaged over (a task file's options set it from the data)
        metrics["labels"] = list(task.labels)
    calls = store.calls_by_id(strong_ids)
    return store.save_eval(
        EvalResult(
            run_id=target.stored.run_id,
            method=label,
            task=opts.task,
            data_path=data_identity(opts.data),
            data_hash=target.data_hash,
            weak=ctx.weak if MODES[method.mode].uses_weak else None,
            strong=opts.strong if MODES[method.mode].uses_strong else None,
            adapter=(opts.adapter if method.uses_adapter else None) or "",
            n=len(examples),
            metrics=metrics,
            per_query=records,
            strong_calls=len(strong_ids),
            # what the method costs per answer, whether this time sent or reused them
            strong_tokens=sum((c.tokens_in or 0) + (c.tokens_out or 0) for c in calls.values()),
            seconds=time.perf_counter() - start,
        )
    )


def method_contexts(opts: EvalOptions, run: str, db: str) -> Iterator[tuple[str, Method, CollabContext]]:
    """Each method (and draft format) as a labelled graph context."""
    searches = any(MODES[METHODS[name].mode].rag for name in opts.methods)
    # the BM25 index is built only for a method that searches it
    retriever = corpus_retriever(opts.corpus, opts.top_k) if opts.corpus and searches else opts.retriever
    for name in opts.methods:
        method = METHODS[name]
        for fmt, label in zip(opts.formats if method.drafts else ["cot"], method_labels(method, opts.formats)):
            adapter = opts.adapter if method.uses_adapter else None
            ctx = copy_as(
                CollabContext,
                opts,
                mode=method.mode,
                weak=f"{opts.weak}@{adapter}" if adapter else opts.weak,
                format=fmt,
                solo_format=method.solo_format,
                db=db,
                run=run,
                retriever=retriever,
            )
            yield label, method, ctx


def eval_run_name(opts: EvalOptions) -> str:
    return opts.run or f"eval-{opts.task}-{_file_hash(opts.data)[:8]}"


def _has_failed_step(state: CollabState) -> bool:
    steps = [state.get("solo") or {}, state.get("rag") or {}, *state.get("drafts", []), *state.get("refinements", [])]
    return any(step.get("error") for step in steps) or any(r.get("error") for r in state.get("revisions", []))


def _strong_call_ids(state: CollabState, method: Method) -> list[int | None]:
    ids = []
    solo = state.get("solo")
    if solo:
        ids.append(solo.get("call_id"))
    ids += [r.get("call_id") for r in state.get("refinements", [])]
    ids += (state.get("rag") or {}).get("strong_calls") or []
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
