"""Running the graph over many examples at once, with a progress bar; one failure stops nothing.

A job's queries are asyncio tasks on cowest's requests loop (models/requests_loop.py), at most
`concurrency` at once, started as slots free up; the caller's thread only reads their results (and
keeps the progress bar) as they finish."""

from __future__ import annotations

import asyncio
import gc
import queue
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from tqdm.auto import tqdm

from cowest.core import StoreFailed, store_failure
from cowest.graph.builder import shared_graph
from cowest.models.requests_loop import submit_on_loop
from cowest.nodes.awaits import store_work
from cowest.nodes.context import CollabContext
from cowest.nodes.ledger import current_ledger
from cowest.nodes.state import CollabState
from cowest.tasks import Example

Result = tuple[Example, CollabState | None, Exception | None]
After = Callable[[Example, CollabState | None, Exception | None], Awaitable[None]]

_END = object()  # the source is exhausted, or the job is over
ASK_AGAIN_S = 0.5  # a claiming source with nothing ready: when to ask the store again
PROGRESS_S = 1.0  # how often the bar's count of finished model calls is brought up to date


@dataclass(frozen=True)
class StoredQueries:
    """The rows a job has stored its queries under; each query's graph input carries its own."""

    run_id: int
    pks: dict[str, int]  # query id -> its row


def graph_input(ex: Example, with_gold: bool = True, stored: StoredQueries | None = None) -> dict:
    """The graph's input for `ex`. Without the gold answer the graph judges nothing (evaluation
    scores answers itself, with the task's metrics)."""
    row: dict[str, Any] = {"query": ex.query, "query_id": ex.id, "options": list(ex.options)}
    if with_gold:
        row.update(gold=ex.gold, answers=list(ex.answers))
    if stored is not None:
        row["stored"] = {"run_id": stored.run_id, "query_pk": stored.pks[ex.id]}
    return row


def run_over(
    examples: Iterable[Example | None],
    ctx: CollabContext,
    concurrency: int = 4,
    desc: str = "",
    progress: bool = True,
    with_gold: bool = True,
    total: int | None = None,
    after: After | None = None,
    stored: StoredQueries | None = None,
) -> Iterator[Result]:
    """Yield (example, final state, None) or (example, None, error) as queries finish. Several
    queries in flight let a local model batch their generations and a remote one overlap them.
    `examples` is read lazily, as slots free up; a source may yield None for "nothing ready yet" (a
    claiming source whose remaining queries are other workers' in flight): the queries in flight go
    on meanwhile, and it is asked again. `after`: the job's own work on a finished query (its store
    marks), run on the loop before the query is yielded; its error stops the job. `stored`: the rows
    the job stored the queries under (else each query's nodes look them up by name)."""
    if total is None and isinstance(examples, list):
        total = len(examples)
    # Into a file or a pipe a bar is a new copy at every redraw: there it redraws every 30 s at most
    tty = sys.stderr.isatty()
    bar = tqdm(total=total, desc=desc, unit="query", disable=not progress, mininterval=0.1 if tty else 30.0)
    finished: queue.SimpleQueue = queue.SimpleQueue()
    ledger = current_ledger()
    inputs = partial(graph_input, with_gold=with_gold, stored=stored)
    job = submit_on_loop(_queries(iter(examples), ctx, max(1, concurrency), inputs, after, finished))
    # What is alive now (libraries, graph, store), and the models once the first query has loaded
    # them, is kept out of the cyclic GC: a full collection walks every tracked object (half a
    # million with torch and transformers loaded: a 0.2 s pause at each, bench/RESULTS.md).
    gc.freeze()
    frozen_after_first = False
    try:
        while (item := _next(finished, bar, ledger, tty)) is not _END:
            if isinstance(item, BaseException):  # the job's own store work failed: it stops
                raise _stopped_by_store(item) if store_failure(item) is not None else item
            ex, state, error = item
            if error is not None and store_failure(error) is not None:  # the store itself failed
                raise _stopped_by_store(error) from error
            yield ex, state, error
            bar.update(1)
            if not frozen_after_first:
                gc.freeze()
                frozen_after_first = True
        job.result()
    finally:
        # On Ctrl-C (or the caller stopping early) nothing new starts; the queries in flight are
        # cancelled at their next wait, and everything finished is already in the store.
        job.cancel()
        bar.close()
        gc.unfreeze()  # what the run left behind in cycles (a previous round's model) is collectable again


async def _queries(
    source: Iterator[Example | None],
    ctx: CollabContext,
    concurrency: int,
    inputs: Callable[[Example], dict],
    after: After | None,
    finished: queue.SimpleQueue,
) -> None:
    """Every query a task on this loop, `concurrency` at most at once; each finished one goes to
    `finished`, then _END. After a budget stop nothing new starts and those in flight finish (the
    budget refuses whatever no longer fits), so the summary counts every request made; after too
    many failures in a row (a dead API) those in flight are abandoned."""
    graph, ledger = shared_graph(), current_ledger()
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task] = set()

    async def one(ex: Example) -> None:
        try:
            state, error = await graph.ainvoke(inputs(ex), context=ctx), None
        except Exception as exc:  # the caller records it; the other queries go on
            state, error = None, exc
        finally:
            slots.release()
        try:
            if after is not None:
                await after(ex, state, error)
        except Exception as exc:
            finished.put(exc)  # the caller raises it, and the job stops
            return
        finished.put((ex, state, error))

    try:
        while not _stopping(ledger):
            await slots.acquire()
            if _stopping(ledger):  # it may have stopped while every slot was taken
                slots.release()
                break
            ex = await store_work(ctx.db, next, source, _END)  # a claiming source asks the store
            if not isinstance(ex, Example):
                slots.release()
                if ex is _END:
                    break
                await asyncio.sleep(ASK_AGAIN_S)  # the rest are other workers', in flight
                continue
            task = asyncio.create_task(one(ex))  # in a copy of this context: the job's ledger goes along
            running.add(task)
            task.add_done_callback(running.discard)
        if ledger is not None and ledger.tripped:
            return
        await asyncio.gather(*running, return_exceptions=True)
    finally:
        for task in running:
            task.cancel()
        finished.put(_END)


def _stopping(ledger: Any) -> bool:
    return ledger is not None and ledger.should_stop


def _next(finished: queue.SimpleQueue, bar: tqdm, ledger: Any, tty: bool = True) -> Any:
    """The next finished query (or _END, or the job's error), keeping the bar's count of model
    calls up to date meanwhile."""
    while True:
        try:
            item = finished.get(timeout=PROGRESS_S)
        except queue.Empty:
            item = None
        if ledger is not None:
            _show_calls(bar, ledger, refresh=tty)
        if item is not None:
            return item


def _stopped_by_store(exc: BaseException) -> StoreFailed:
    """The job stops: nothing it asks for could be kept. The line says what was paid for and lost."""
    ledger = current_ledger()
    lost, in_flight = ledger.halt() if ledger is not None else (0, 0)
    return StoreFailed(
        f"{store_failure(exc)}; the job stopped: {lost} paid strong/judge outputs could not be stored "
        f"and {in_flight} in flight were abandoned. Fix the store and run the same command: what is stored is reused"
    )


def _show_calls(bar: tqdm, ledger: Any, refresh: bool = True) -> None:
    """The bar counts model calls as they finish: a query makes 2K+2 of them, and on a CPU its
    first one waits for the model to load, so a bar that counted queries alone would sit at 0 for
    minutes."""
    done = sum(ledger.sent.values()) + sum(ledger.reused.values())
    if done:
        bar.set_postfix_str(f"{done} model calls done", refresh=refresh)
