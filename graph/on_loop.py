"""A node as LangGraph runs it. Nodes are `async def node(state, runtime)` functions (nodes/); a
sync caller (`graph.invoke`; LangGraph runs parallel nodes in threads of its own) waits for each on
cowest's requests loop (models/requests_loop.py), where the remote clients' connections and the
local models' request queues live, and so does the CLI, which awaits its queries there. An app's or
LangGraph Studio's own loop awaits the nodes on itself: their store work then goes to a worker
thread and their model requests to cowest's loop (nodes/awaits.py), so that loop is never blocked
(`langgraph dev` checks). The node gets the run's runtime, a served caller's context resolved
against the operator's settings (graph/serving.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import Runnable

from cowest.models.requests_loop import run_on_loop

from .serving import collab_runtime

Node = Callable[[Any, Any], Awaitable[dict]]


class OnRequestsLoop(Runnable):
    """A node as a plain LangChain Runnable: LangGraph runs a node inside the run's config context,
    so `get_runtime()` works, and nothing else is added per call (RunnableLambda built a callback
    manager and read the function's signature at every call: about 4% of a collection's CPU)."""

    def __init__(self, node: Node):
        self.node = node
        self.name = node.__name__

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> dict:
        return run_on_loop(self.node(input, collab_runtime()))

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> dict:
        return await self.node(input, collab_runtime())
