"""What a node waits for. Nodes are `async def node(state, runtime)` functions, awaited on cowest's
requests loop (models/requests_loop.py) by the CLI and a sync caller (graph/on_loop.py), or on an
app's or LangGraph Studio's own loop. A model's batch of requests goes out from cowest's loop, where
the remote clients' connections and the local models' request queues live; store work and other
blocking calls go to a worker thread unless they are cheaper than the thread switch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from cowest.models import ModelSpec, RequestPolicy, Sampling, get_model
from cowest.models.base import Messages, Outcome, Seeds
from cowest.models.registry import loaded_model
from cowest.models.requests_loop import event_loop, submit_on_loop


async def store_work(db: str | None, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn` on the run's store (`db`: its URL). SQLite touches no network and takes a fraction of a
    millisecond, less than the two thread switches of a worker thread: on cowest's loop it runs in
    place. A database server's round trips, and any other loop (an app's), go to a worker thread, so
    that the loop's other work goes on meanwhile."""
    if (db is None or db.startswith("sqlite")) and asyncio.get_running_loop() is event_loop():
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)  # the context (the job's ledger) goes along


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A call that blocks (loading a model, a local model's own computation) in a worker thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def generate(
    spec: ModelSpec,
    policy: RequestPolicy,
    prompts: list[Messages],
    counts: list[int],
    sampling: Sampling,
    seeds: Seeds = None,
) -> list[Outcome]:
    """One batch of model requests: `counts[i]` outputs for prompt i, each a Generation or its error."""
    model = loaded_model(spec, policy)  # no thread needed once it is loaded
    if model is None:
        model = await asyncio.to_thread(get_model, spec, policy=policy)  # may load weights
    seeded = {} if seeds is None else {"seeds": seeds}  # only when asked: an app's ChatModel need not know it
    agenerate = getattr(model, "agenerate_each", None)
    if agenerate is None:  # a ChatModel with only the blocking form: a worker thread waits for it
        return await asyncio.to_thread(model.generate_each, prompts, counts, sampling, **seeded)
    work = agenerate(prompts, counts, sampling, **seeded)
    if asyncio.get_running_loop() is event_loop():
        return await work
    return await asyncio.wrap_future(submit_on_loop(work))  # from another loop: the clients live on cowest's


async def wait_for(futures: list[Future]) -> list[Any]:
    """The results of work that other queries of this process are doing (nodes/in_flight.py)."""
    return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))
