"""Several collectors on one run: each claims queries through the store (storage/leases.py) and
runs those; the queries other workers ran are then walked too, which costs nothing (their calls are
stored) and gives every worker a complete summary. A worker that dies stops renewing its leases;
once they expire, the others take its queries over."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from cowest.storage import leases
from cowest.tasks import Example

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Claims:
    def __init__(self, store, run_id: int, round: int, by_pk: dict[int, Example], batch: int, ttl: float):
        self.store, self.run_id, self.round = store, run_id, round
        self.by_pk, self.batch, self.ttl = by_pk, max(1, batch), ttl
        self.owner = worker_id()
        self.mine: set[int] = set()  # claimed by this worker
        leases.ensure_leases(store, run_id, round, by_pk)

    def examples(self) -> Iterator[Example | None]:
        """This worker's queries as it claims them, then every other one once it is finished; None
        while the rest are other workers' in flight (the runner goes on with its own meanwhile: were
        it to wait here, two workers could each wait for the other's queries to be marked done)."""
        walked: set[int] = set()
        while len(walked) < len(self.by_pk):
            claimed = leases.claim(self.store, self.run_id, self.round, self.owner, self.batch, self.ttl)
            for pk in claimed:
                self.mine.add(pk)
                walked.add(pk)
                yield self.by_pk[pk]
            if claimed:
                continue
            rest = [pk for pk in self.by_pk if pk not in walked]
            done = leases.finished_among(self.store, self.run_id, self.round, rest)
            for pk in sorted(done):
                walked.add(pk)
                yield self.by_pk[pk]
            if not done and len(walked) < len(self.by_pk):
                yield None  # the rest are other workers', in flight

    def finished(self, query_pk: int) -> None:
        if query_pk in self.mine:
            leases.finish(self.store, self.run_id, self.round, query_pk, self.owner)

    @contextmanager
    def held(self) -> Iterator[Claims]:
        """Renew this worker's leases while the block runs; give back the unfinished ones after."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.ttl / 3):
                leases.renew(self.store, self.run_id, self.round, self.owner, self.ttl)

        heart = threading.Thread(target=beat, name="cowest-lease-renewal", daemon=True)
        heart.start()
        try:
            yield self
        finally:
            stop.set()
            failing = sys.exc_info()[1] is not None
            try:
                leases.release(self.store, self.run_id, self.round, self.owner)
            except Exception:
                if not failing:
                    raise
                # the job's own error is the one to report (a full disk fails this write too); the
                # leases lapse after their ttl, and another worker or the rerun takes the queries
                log.debug("could not give back the leases", exc_info=True)
