"""Request load from a few threads for as long as a ``with`` block lasts.

The fault tier's paced load (``tests/faults/load.py``) and the serving integration test's load
differ in what they send and record; starting, stopping and joining the threads is this class.
"""

from __future__ import annotations

import threading
import time
from typing import Self


class ThreadedLoad:
    """``threads`` threads each running ``_run(offset)`` until the ``with`` block ends.

    ``_run`` loops until ``self._stop`` is set (waiting on it, never sleeping blindly, so the
    block ends promptly); ``started`` is the monotonic time the threads were started.
    """

    def __init__(self, threads: int) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]
        self.started = 0.0

    def _run(self, offset: int) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
