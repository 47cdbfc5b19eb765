"""Running the graph over many examples at once, with a progress bar; one failure stops nothing."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait

from tqdm.auto import tqdm

from cowest.core import StoreFailed, store_failure
from cowest.graph import CollabContext, CollabState
from cowest.graph.builder import shared_graph
from cowest.models.requests_loop import submit_on_loop
from cowest.nodes.ledger import current_ledger
from cowest.tasks import Example

_END = object()  # the source is exhausted
WAIT_S = 0.5  # how long to wait when the source has nothing ready and nothing is in flight
PROGRESS_S = 1.0  # how often the bar's count of finished model calls is brought up to date


def graph_input(ex: Example, with_gold: bool = True) -> dict:
    """The graph's input for `ex`. Without the gold answer the graph judges nothing (evaluation
    scores answers itself, with the task's metrics)."""
    row = {"query": ex.query, "query_id": ex.id, "options": list(ex.options)}
    if with_gold:
        row.update(gold=ex.gold, answers=list(ex.answers))
    return row


def _stopped_by_store(exc: Exception) -> StoreFailed:
    """The job stops: nothing it asks for could be kept. The line says what was paid for and lost."""
    ledger = current_ledger()
    lost, in_flight = (ledger.lost, ledger.in_flight) if ledger is not None else (0, 0)
    return StoreFailed(
        f"{store_failure(exc)}; the job stopped: {lost} paid strong/judge outputs could not be stored "
        f"and {in_flight} in flight were abandoned. Fix the store and run the same command: what is stored is reused"
    )


def run_over(
    examples: Iterable[Example | None],
    ctx: CollabContext,
    concurrency: int = 4,
    desc: str = "",
    progress: bool = True,
    with_gold: bool = True,
    total: int | None = None,
) -> Iterator[tuple[Example, CollabState | None, Exception | None]]:
    """Yield (example, final state, None) or (example, None, error) as queries finish. Several
    queries in flight let a local model batch their generations and a remote one overlap them; they
    run as coroutines (the graph's async nodes) on the requests' event loop, not a thread each.
    `examples` is read lazily, `concurrency` at a time; a source may yield None for "nothing ready
    yet" (a claiming source whose remaining queries are other workers' in flight): the queries in
    flight go on meanwhile, and it is asked again."""
    graph = shared_graph()
    if total is None and isinstance(examples, list):
        total = len(examples)
    bar = tqdm(total=total, desc=desc, unit="query", disable=not progress)
    source = iter(examples)
    pending: dict[Future, Example] = {}
    ledger = current_ledger()
    exhausted = False

    def stopping() -> bool:
        return ledger is not None and ledger.should_stop

    def fill() -> None:
        nonlocal exhausted
        while len(pending) < max(1, concurrency) and not stopping():
            ex = next(source, _END)
            if ex is _END:
                exhausted = True
                return
            if not isinstance(ex, Example):  # None: nothing ready yet (other workers hold the rest)
                return
            # Each query runs in a copy of this context, so per-job state (the ledger) follows it.
            fut = submit_on_loop(graph.ainvoke(graph_input(ex, with_gold), context=ctx))
            pending[fut] = ex

    # What is alive now (libraries, graph, store), and the models once the first query has loaded
    # them, is kept out of the cyclic GC: a full collection walks every tracked object (half a
    # million with torch and transformers loaded: a 0.2 s pause at each, bench/RESULTS.md).
    gc.freeze()
    frozen_after_first = False
    try:
        fill()
        while pending or not (exhausted or stopping()):
            if not pending:
                time.sleep(WAIT_S)
                fill()
                continue
            done, _ = wait(pending, timeout=PROGRESS_S, return_when=FIRST_COMPLETED)
            if ledger is not None:
                _show_calls(bar, ledger)
            for fut in done:
                ex = pending.pop(fut)
                try:
                    state = fut.result()
                except Exception as exc:  # recorded by the caller; the other queries go on
                    if store_failure(exc) is not None:  # ...unless the store itself failed
                        raise _stopped_by_store(exc) from exc
                    yield ex, None, exc
                else:
                    yield ex, state, None
                bar.update(1)
                if not frozen_after_first:
                    gc.freeze()
                    frozen_after_first = True
            if ledger is not None and ledger.tripped:
                return  # a dead API: queued queries are never sent; those in flight are abandoned
            # After a budget stop nothing new starts; those in flight finish (the budget refuses
            # whatever no longer fits), so the job's summary counts every request it made.
            fill()
    finally:
        # On Ctrl-C (or the caller stopping early) nothing new starts; the queries in flight finish
        # their current call, and everything finished is already in the store.
        for fut in pending:
            fut.cancel()
        bar.close()
        gc.unfreeze()  # what the run left behind in cycles (a previous round's model) is collectable again


def _show_calls(bar: tqdm, ledger) -> None:
    """The bar counts model calls as they finish: a query makes 2K+2 of them, and on a CPU its
    first one waits for the model to load, so a bar that counted queries alone would sit at 0 for
    minutes."""
    done = sum(ledger.sent.values()) + sum(ledger.reused.values())
    if done:
        bar.set_postfix_str(f"{done} model calls done", refresh=True)
