"""Requests in flight in this process, by content key: a query about to send a request that another
query has already sent (and not yet stored) waits for that one's answer and copies it, instead of
paying for the same output twice. Only a call that anyone may reuse (a greedy one: sampled calls
carry their sample in the content key) can be shared this way; across processes the store's content
lookup is what shares."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

_flights: dict[tuple[str | None, str], Future] = {}
_lock = threading.Lock()


def claim(db: str | None, contents: list[str]) -> tuple[set[str], dict[str, Future]]:
    """The contents this caller is now the one to send (it must `land` them), and for each of the
    others the future of the caller already sending it."""
    mine: set[str] = set()
    theirs: dict[str, Future] = {}
    with _lock:
        for content in contents:
            if content in mine:  # twice in one batch: the batch itself sends it once
                continue
            flight = _flights.get((db, content))
            if flight is not None:
                theirs[content] = flight
            else:
                _flights[(db, content)] = Future()
                mine.add(content)
    return mine, theirs


def land(db: str | None, rows: dict[str, Any]) -> None:
    """The stored rows of the contents this caller claimed: a successful call's row, or None for a
    content it failed to get (whoever waits for it then sends it itself)."""
    with _lock:
        flights = [(_flights.pop((db, content), None), row) for content, row in rows.items()]
    for flight, row in flights:
        if flight is not None:
            flight.set_result(row)
