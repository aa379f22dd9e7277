"""Logging of the serving process: one stdout handler, configured at the entry points.

Called by ``python -m model_serving`` and by the app factory each uvicorn worker runs (workers
are fresh interpreters, so they do not inherit the parent's configuration); a no-op when logging
is already configured.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def configure_logging(level: str = "info") -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, stream=sys.stdout)
    for noisy in ("alembic.runtime.plugins",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
