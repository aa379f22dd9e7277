"""``tests.support.load_threads``: the threads run until the ``with`` block ends, then stop."""

from __future__ import annotations

import threading

from tests.support.load_threads import ThreadedLoad


class Counting(ThreadedLoad):
    def __init__(self, threads: int) -> None:
        super().__init__(threads)
        self.offsets: set[int] = set()
        self.running = threading.Barrier(threads + 1, timeout=30)

    def _run(self, offset: int) -> None:
        self.offsets.add(offset)
        self.running.wait()
        self._stop.wait(30)


def test_every_thread_runs_and_is_joined_when_the_block_ends() -> None:
    with Counting(3) as load:
        load.running.wait()  # all three threads are inside _run
        assert load.started > 0
    assert load.offsets == {0, 1, 2}
    assert not any(thread.is_alive() for thread in load._threads)
