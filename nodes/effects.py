"""Nodes are written once, as generators that yield what they have to wait for (store work, model
requests), and run either way: `graph.invoke` runs each effect in the caller's thread; `graph.ainvoke`
(the CLI's jobs, LangGraph Studio) awaits it, with store work in a worker thread, remote requests on
the requests' event loop, and a local model's requests queued for the thread that decodes its
batches (models/batching.py).

    def strong_solo(state, runtime):
        log = yield StoreWork(runtime.context.db, CallLog.open, state, runtime.context)
        step = (yield from run_jobs(log, ...))[0]
        return {"solo": step}
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable

from cowest.models import ModelSpec, RequestPolicy, Sampling, get_model
from cowest.models.base import Messages, Outcome, Seeds
from cowest.models.registry import loaded_model
from cowest.models.requests_loop import event_loop, submit_on_loop


class Blocking:
    """A call that blocks (the store, loading a model): a worker thread runs it under an event loop."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def run(self) -> Any:
        return self.fn(*self.args, **self.kwargs)

    async def arun(self) -> Any:
        return await asyncio.to_thread(self.fn, *self.args, **self.kwargs)  # the context goes along


class StoreWork(Blocking):
    """Work on the run's store (`db`: its URL). On SQLite it touches no network and takes a fraction
    of a millisecond, less than the two thread switches of a worker thread: on cowest's own
    requests loop it runs in place. A database server's round trips, and any other loop (Studio's,
    an app's), go to a worker thread."""

    def __init__(self, db: str | None, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__(fn, *args, **kwargs)
        self.in_place = db is None or db.startswith("sqlite")

    async def arun(self) -> Any:
        if self.in_place and asyncio.get_running_loop() is event_loop():
            return self.run()
        return await super().arun()


@dataclass
class Generate:
    """One batch of model requests: `counts[i]` outputs for prompt i, each a Generation or its error."""

    spec: ModelSpec
    policy: RequestPolicy
    prompts: list[Messages]
    counts: list[int]
    sampling: Sampling
    seeds: Seeds = None  # per prompt, one per sample (--seed)

    def run(self) -> list[Outcome]:
        model = get_model(self.spec, policy=self.policy)
        return model.generate_each(self.prompts, self.counts, self.sampling, **self._seeded())

    def _seeded(self) -> dict[str, Any]:
        # only when asked: a ChatModel of an app's own need not know the keyword
        return {} if self.seeds is None else {"seeds": self.seeds}

    async def arun(self) -> list[Outcome]:
        model = loaded_model(self.spec, self.policy)  # no thread needed once it is loaded
        if model is None:
            model = await asyncio.to_thread(get_model, self.spec, policy=self.policy)  # may load weights
        agenerate = getattr(model, "agenerate_each", None)
        if agenerate is None:  # a ChatModel with only the blocking form: a worker thread waits for it
            return await asyncio.to_thread(
                model.generate_each, self.prompts, self.counts, self.sampling, **self._seeded()
            )
        coro = agenerate(self.prompts, self.counts, self.sampling, **self._seeded())
        if asyncio.get_running_loop() is event_loop():
            return await coro
        # another loop (LangGraph Studio's): the clients' connections belong to the requests' loop
        return await asyncio.wrap_future(submit_on_loop(coro))


@dataclass
class Wait:
    """The results of work that other queries of this process are doing (nodes/in_flight.py)."""

    futures: list[Future]

    def run(self) -> list[Any]:
        return [f.result() for f in self.futures]

    async def arun(self) -> list[Any]:
        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in self.futures)))


Effect = Blocking | Generate | Wait  # StoreWork is a Blocking
NodeSteps = Generator[Effect, Any, dict]


def run_effects(steps: NodeSteps) -> dict:
    """Drive a node's generator in this thread; an effect's exception is raised where it was yielded."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as done:
            return done.value
        try:
            result, error = effect.run(), None
        except Exception as exc:
            result, error = None, exc


async def arun_effects(steps: NodeSteps) -> dict:
    """Drive a node's generator on the running event loop."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as done:
            return done.value
        try:
            result, error = await effect.arun(), None
        except Exception as exc:
            result, error = None, exc


def as_node(steps_of: Callable[..., NodeSteps]) -> Any:
    """A LangGraph node with both a sync and an async implementation of the generator `steps_of`:
    `invoke` runs the first, `ainvoke` awaits the second on the caller's loop. The node gets the
    run's runtime (LangGraph's `get_runtime()`), a served caller's context resolved against the
    operator's settings (graph/serving.py)."""
    return _Node(steps_of)


class _Node(Runnable):
    """A node as a plain LangChain Runnable: LangGraph runs a node inside the run's config context,
    so `get_runtime()` works, and nothing else is added per call (RunnableLambda built a callback
    manager and read the function's signature at every call: about 4% of a collection's CPU)."""

    def __init__(self, steps_of: Callable[..., NodeSteps]):
        self.steps_of = steps_of
        self.name = steps_of.__name__

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> dict:
        # graph/ imports the nodes: an upward import at module level would close graph -> nodes -> graph
        # while the builder loads; it goes with these interpreters (issue 30, item 1)
        from cowest.graph.serving import collab_runtime

        return run_effects(self.steps_of(input, collab_runtime()))

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> dict:
        from cowest.graph.serving import collab_runtime  # as in invoke

        return await arun_effects(self.steps_of(input, collab_runtime()))
