"""The process's one event loop for remote requests, in a daemon thread of its own: the async
clients' connection pools belong to the loop they were made on, so every remote request of the
process goes out from this one."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from typing import Any

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """The requests' loop, started on first use."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="cowest-requests", daemon=True).start()
        return _loop


def submit_on_loop(coro: Any) -> concurrent.futures.Future:
    """Start `coro` on the requests' loop with the caller's context variables (the job's ledger
    goes with it); cancelling the returned future cancels it."""
    return asyncio.run_coroutine_threadsafe(_in_context(contextvars.copy_context(), coro), event_loop())


async def _in_context(context: contextvars.Context, coro: Any) -> Any:
    # The task runs in a context of its own; the caller's values are set in it before the work starts.
    for var, value in context.items():
        var.set(value)
    return await coro


def run_on_loop(coro: Any) -> Any:
    """Run `coro` on the requests' loop and wait for it here (not from that loop: it would wait for itself)."""
    if _loop is not None and _running_loop() is _loop:
        coro.close()
        raise RuntimeError("a blocking model call from cowest's requests loop; await agenerate_each instead")
    return submit_on_loop(coro).result()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
