"""Running the graph over many examples at once, with a progress bar; one failure stops nothing."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextvars import copy_context

from tqdm.auto import tqdm

from cowest.graph import CollabContext, CollabState, build_graph
from cowest.nodes.ledger import current_ledger
from cowest.tasks import Example


def graph_input(ex: Example, with_gold: bool = True) -> dict:
    """The graph's input for `ex`. Without the gold answer the graph judges nothing (evaluation
    scores answers itself, with the task's metrics)."""
    row = {"query": ex.query, "query_id": ex.id, "options": list(ex.options)}
    if with_gold:
        row.update(gold=ex.gold, answers=list(ex.answers))
    return row


def run_over(
    examples: list[Example],
    ctx: CollabContext,
    concurrency: int = 4,
    desc: str = "",
    progress: bool = True,
    with_gold: bool = True,
) -> Iterator[tuple[Example, CollabState | None, Exception | None]]:
    """Yield (example, final state, None) or (example, None, error) as queries finish. Several
    queries in flight let a local model batch their generations and a remote one overlap them."""
    graph = build_graph()
    bar = tqdm(total=len(examples), desc=desc, unit="query", disable=not progress)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        # Each worker runs in a copy of this context, so per-job state (the ledger) follows it.
        futures = {
            pool.submit(copy_context().run, graph.invoke, graph_input(ex, with_gold), context=ctx): ex
            for ex in examples
        }
        ledger = current_ledger()
        for fut in as_completed(futures):
            if fut.cancelled():
                continue
            try:
                yield futures[fut], fut.result(), None
            except Exception as exc:  # recorded by the caller; the other queries go on
                yield futures[fut], None, exc
            bar.update(1)
            if ledger is not None and ledger.tripped:
                return  # a dead API: queued queries are dropped (finally), never sent
            if ledger is not None and ledger.budget_hit:
                # Queued queries never start; those in flight finish (the budget refuses whatever
                # no longer fits), so the job's summary counts every request it made.
                for queued in futures:
                    queued.cancel()
    finally:
        # On Ctrl-C (or the caller stopping early) queued queries are dropped at once; the ones in
        # flight finish their current call, and everything finished is already in the store.
        pool.shutdown(wait=False, cancel_futures=True)
        bar.close()
