"""Requests in flight per remote model: a limit that adapts to the server (AIMD), shared by every
caller in the process, so a one-slot server settles at one request in flight and a fast API gets
many.

The limit starts at 2 and doubles after each window of successes (slow start) until the server
first pushes back (a timeout, 429 or 503); from then on it halves on each push-back (not below 1)
and grows by one after a window of successes. A success that took more than half its timeout does
not count towards growth: the server is queueing already, and one more request in flight would
time out. A request waiting here for a slot is not timed: the client's timeout starts when the
request is sent.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

START = 2
CEILING = 256  # an adaptive limit never passes this many requests in flight


class AdaptiveLimit:
    def __init__(self, fixed: int = 0) -> None:
        self.fixed = fixed  # > 0: exactly this many in flight, never adapted
        self.limit = float(fixed or START)
        self.in_flight = 0
        self.slow_start = not fixed
        self._successes = 0
        self._cond = threading.Condition()
        self._async_waiters: deque[asyncio.Future] = deque()  # coroutines waiting for a slot, in order

    def set_fixed(self, fixed: int) -> None:
        with self._cond:
            self.fixed = fixed
            if fixed:
                self.limit, self.slow_start = float(fixed), False
            self._wake()

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    @contextmanager
    def slot(self) -> Iterator[int]:
        """Hold one request slot; yields how many requests were in flight with this one."""
        with self._cond:
            while self.in_flight >= self.current:
                self._cond.wait()
            self.in_flight += 1
            crowd = self.in_flight
        try:
            yield crowd
        finally:
            self._release()

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[int]:
        """`slot` for a coroutine: it waits without holding a thread (hundreds of requests may
        wait on one event loop)."""
        while True:
            with self._cond:
                if self.in_flight < self.current:
                    self.in_flight += 1
                    crowd = self.in_flight
                    break
                waiter = asyncio.get_running_loop().create_future()
                self._async_waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with self._cond:
                    if waiter in self._async_waiters:
                        self._async_waiters.remove(waiter)
                    elif waiter.done() and not waiter.cancelled():
                        self._wake()  # it was woken for a slot it will not take: pass the turn on
                raise
        try:
            yield crowd
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._wake()

    def _wake(self) -> None:
        """Wake the waiters that free slots can take: every blocked thread re-checks, and as many
        coroutines as there are free slots, first come first served. The caller holds `_cond`."""
        self._cond.notify_all()
        for _ in range(max(0, self.current - self.in_flight)):
            if not self._async_waiters:
                break
            waiter = self._async_waiters.popleft()
            waiter.get_loop().call_soon_threadsafe(_set_if_waiting, waiter)

    def success(self, slow: bool = False) -> None:
        """A request went through. A `slow` one (it took more than half its timeout) says the server
        is queueing already: it adds nothing towards a larger limit."""
        with self._cond:
            if self.fixed:
                return
            if slow:
                self._successes = 0
                return
            self._successes += 1
            if self._successes >= self.current:  # a full window went through
                self._successes = 0
                self.limit = min(CEILING, self.limit * 2 if self.slow_start else self.limit + 1)
                self._wake()

    def push_back(self) -> None:
        """The server is overloaded (timeout, 429, 503): halve the limit."""
        with self._cond:
            if self.fixed:
                return
            self.slow_start = False
            self._successes = 0
            self.limit = max(1.0, self.limit / 2)


def _set_if_waiting(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


_limits: dict[tuple[str | None, str], AdaptiveLimit] = {}
_lock = threading.Lock()


def limit_for(endpoint: str | None, model: str, fixed: int = 0) -> AdaptiveLimit:
    """The one limit of this model on this endpoint in this process; `fixed` > 0 pins it."""
    with _lock:
        limit = _limits.get((endpoint, model))
        if limit is None:
            limit = _limits[(endpoint, model)] = AdaptiveLimit(fixed)
        elif fixed and limit.fixed != fixed:
            limit.set_fixed(fixed)
        return limit


def current_limits() -> dict[str, int]:
    """Each remote model's limit now, by model name (for summaries)."""
    with _lock:
        return {model: limit.current for (_endpoint, model), limit in _limits.items()}


def reset_limits() -> None:
    with _lock:
        _limits.clear()
