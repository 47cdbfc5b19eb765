"""The process's one decoding thread, on which every local model decodes (models/batching.py):
one model, one device, and no caller's thread ever holds the model while it waits."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class DecodingThread:
    """The process's one decoding thread: runs the work handed to it, one at a time. A daemon: an
    interrupted job exits without waiting for the batch in flight."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, work: Callable[[], None]) -> None:
        self._work.put(work)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="cowest-decoding", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            work = self._work.get()
            try:
                work()
            except BaseException:  # noqa: BLE001 - its requests are failed; the work queued after it still runs
                log.debug("decoding work ended with an error", exc_info=True)


DECODING = DecodingThread()
