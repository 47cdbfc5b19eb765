"""Preference collection over a task file (Algorithm 1's loop), resumable through the store."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cowest.core import EXIT_BUDGET, EXIT_FAILURES, EXIT_OK, BadInput, BudgetExceeded
from cowest.graph import CollabContext, CollabState
from cowest.models import ModelSettings, check_specs
from cowest.models.engines import check_engine
from cowest.models.limits import current_limits
from cowest.nodes.awaits import store_work
from cowest.nodes.ledger import Budget, error_kind, keeping_ledger
from cowest.nodes.pair_collector import split_of_state
from cowest.storage import get_store
from cowest.tasks import Example, data_identity, get_task

from .claims import Claims
from .options import CollectOptions
from .runner import StoredQueries, run_over
from .spending import Spending


@dataclass
class CollectSummary:
    run: str
    round: int
    db: str
    queries: int = 0
    skipped_rows: int = 0
    drafts: int = 0
    positives: int = 0
    negatives: int = 0
    pairs: int = 0
    solo_top: int = 0
    failed_queries: int = 0
    failed_calls: int = 0
    calls_made: dict[str, int] = field(default_factory=dict)  # requests sent, by role
    spending: Spending = field(default_factory=Spending)  # strong and LLM-judge requests
    in_flight_limits: dict[str, int] = field(default_factory=dict)  # each remote model's, at the end
    unfinished: int = 0  # queries the budget stopped before they finished
    price_in: float | None = None  # USD per 1M tokens, for the summary's cost
    price_out: float | None = None
    budget_stopped: bool = False
    failed_by_role: dict[str, int] = field(default_factory=dict)
    first_errors: dict[str, str] = field(default_factory=dict)  # "role: kind" -> first message
    stopped: str | None = None  # why the job stopped early (failures in a row, or the budget)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def exit_code(summary: CollectSummary) -> int:
    """0 when everything succeeded, 4 when the budget stopped it, 3 when the run finished (or
    stopped) with failures."""
    if summary.budget_stopped:
        return EXIT_BUDGET
    return EXIT_FAILURES if summary.failed_calls or summary.failed_queries or summary.stopped else EXIT_OK


def collect(
    opts: CollectOptions, settings: ModelSettings | None = None, progress: bool = True, budget: Budget | None = None
) -> CollectSummary:
    """Run the collect graph over the task file; every call lands in the store, and a rerun of the
    same options makes no model call that is already stored. `budget`: one shared by several
    collections (the rounds of `cowest rounds`); by default the options' caps on this run."""
    start = time.perf_counter()
    opts.check_job()
    task = get_task(opts.task)
    loaded = task.load(opts.data, limit=opts.limit, offset=opts.offset)
    if not loaded.examples:
        raise BadInput(f"{opts.data}: no usable rows after --offset {opts.offset} (nothing to collect)")
    ctx = opts.context()
    check_models(ctx, settings)
    store = get_store(ctx.db)
    run_id = store.ensure_run(ctx.run, opts.task, data_path=data_identity(opts.data), config=_public_config(ctx))
    query_pks = store.ensure_queries(run_id, [(ex.id, ex.query, ex.gold, ex.line) for ex in loaded.examples])

    summary = CollectSummary(
        run=ctx.run,
        round=ctx.round,
        db=ctx.db,
        queries=len(loaded.examples),
        skipped_rows=len(loaded.skipped),
        price_in=opts.price_in,
        price_out=opts.price_out,
    )
    desc = f"collect {ctx.run} r{ctx.round}"
    budget = budget or opts.budget(store.spent(run_id))
    finished = 0
    claims = Claims(
        store, run_id, ctx.round, {query_pks[ex.id]: ex for ex in loaded.examples}, opts.concurrency, opts.lease_seconds
    )

    async def mark(ex: Example, state: CollabState | None, error: Exception | None) -> None:
        if not isinstance(error, BudgetExceeded):  # an unfinished query stays to be run again
            await store_work(ctx.db, _mark_finished, claims, query_pks[ex.id], _why(error))

    with keeping_ledger(opts.max_failures, budget) as ledger, claims.held():
        examples = claims.examples()
        for ex, state, error in run_over(
            examples,
            ctx,
            opts.concurrency,
            desc,
            progress,
            total=summary.queries,
            after=mark,
            stored=StoredQueries(run_id, query_pks),
        ):
            if isinstance(error, BudgetExceeded):
                continue  # unfinished, not failed: a rerun with a larger budget finishes it
            if state is not None:
                finished += 1
                _tally(summary, state, ctx.spec.individual)
            else:
                summary.failed_queries += 1
                summary.errors.append(f"{ex.id}: {_why(error)}")
    _account(summary, ledger, budget, ctx, finished)
    summary.seconds = time.perf_counter() - start
    return summary


def _account(summary: CollectSummary, ledger: Any, budget: Budget, ctx: CollabContext, finished: int) -> None:
    """What the job sent and spent, and why it stopped early if it did."""
    summary.calls_made = ledger.snapshot()
    summary.spending = Spending.of(ledger)
    summary.in_flight_limits = _limits_of(ctx)
    if ledger.budget_hit:
        summary.budget_stopped = True
        summary.unfinished = summary.queries - summary.failed_queries - finished
        summary.stopped = budget.describe()
    elif ledger.tripped:
        summary.stopped = (
            f"stopped after {ledger.consecutive_failures} failed calls in a row; last error: {ledger.last_error}"
        )


def check_models(ctx: CollabContext, settings: ModelSettings | None = None) -> None:
    """Every model the collection calls can be had (bad input otherwise, before anything is sent)."""
    specs = [ctx.weak] + ([ctx.strong] if ctx.spec.uses_strong else [])
    specs += [ctx.judge_model] if ctx.judge == "llm" else []
    check_specs(specs, settings, own_servers={ctx.weak: ctx.weak_base_url})
    check_engine(ctx.weak_engine, ctx.weak_spec)


def _mark_finished(claims: Claims, query_pk: int, error: str | None) -> None:
    """The query is done (its lease) and failed or not (its error). Run on the requests loop, where
    the node steps' store work runs: on SQLite, writing from the job's thread as well had the two
    wait for each other's write lock (at --concurrency 16 a query took 740 ms instead of 580)."""
    claims.finished(query_pk)
    claims.store.set_query_error(query_pk, error)


def _why(error: Exception | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:300]}"


def _tally(summary: CollectSummary, state: CollabState, individual: bool) -> None:
    split = split_of_state(state, individual)
    summary.drafts += len(state.get("drafts", []))
    summary.positives += len(split.positives)
    summary.negatives += len(split.negatives)
    summary.pairs += len(state.get("pairs", []))
    summary.solo_top += bool(state.get("solo_top"))
    solo = state.get("solo") or {}
    steps = [("strong_solo", solo)] + [("weak_draft", d) for d in state.get("drafts", [])]  # a draft's judgment too
    steps += [("strong_refine", r) for r in state.get("refinements", [])]
    for role, step in steps:
        for who, error in ((role, step.get("error")), ("judge", step.get("judge_error"))):
            if error:
                summary.failed_calls += 1
                summary.failed_by_role[who] = summary.failed_by_role.get(who, 0) + 1
                summary.first_errors.setdefault(f"{who}: {error_kind(error)}", error)


def _limits_of(ctx: CollabContext) -> dict[str, int]:
    """The in-flight limit each remote model of the run ended with."""
    limits = current_limits()
    specs = {ctx.strong_spec, ctx.judge_spec, ctx.weak_spec}
    return {str(spec): limits[spec.model] for spec in specs if spec.provider != "huggingface" and spec.model in limits}


def _public_config(ctx: CollabContext) -> dict:
    """The run's settings as stored: model specs and knobs, never a key or a password."""
    cfg = asdict(ctx)
    cfg.pop("db", None)
    return cfg
