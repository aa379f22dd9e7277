"""Serving as a real process for the tests: the project's launcher, ``platform_processes.serving``
(shared with the benchmarks), re-exported under the name the test modules import."""

from __future__ import annotations

from platform_processes.serving import listening_sockets, metric, start_serving

__all__ = ["listening_sockets", "metric", "start_serving"]
