"""The FastAPI application factory of the serving service: the one module that wires the layers.

Outermost first: ``ServingMiddleware`` (metrics, body limit, last-resort 500), ``FastPredict``
(``POST /v1/predict`` with JSON, when ``SERVING_FAST_PATH`` is on), the FastAPI routes. Below
them: ``prediction`` (parse, check, score, record), then the state (model holder, batcher,
prediction log). Nothing below imports anything above.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from model_serving.error_handlers import install_error_handlers
from model_serving.fast_predict import FastPredict
from model_serving.middleware import ServingMiddleware
from model_serving.model_version import ModelSource
from model_serving.routes import router
from model_serving.settings import ServingSettings
from model_serving.wiring import build_state
from platform_processes.logging_config import configure_logging

logger = logging.getLogger(__name__)

DESCRIPTION = """
Classifies English texts as AI-generated or human-written with the registry's champion model
(`models:/ai-text-detector@champion`), hot-swapping to a new version when the alias moves.
Every error is a JSON body `{"error": ..., "detail": ...}`.
"""


def create_app(
    settings: ServingSettings | None = None, source: ModelSource | None = None
) -> FastAPI:
    """Build the app; background threads start with the lifespan and stop (flushing) with it."""
    settings = settings or ServingSettings()
    state = build_state(settings, source)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        # Accept connections only after the first load attempt (bounded): in multi-worker mode
        # a worker that is still loading would otherwise answer 503 next to a ready one.
        await asyncio.to_thread(state.holder.wait_first_attempt, settings.startup_wait_seconds)
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="AI text detector: serving",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Metrics are Prometheus (ServingMetrics); FastAPI's built-in OpenTelemetry hooks would
        # look up the global providers and the environment on every request for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.serving = state
    install_error_handlers(app)
    app.include_router(router)
    if settings.fast_path:
        app.add_middleware(FastPredict, state=state)
    app.add_middleware(
        ServingMiddleware, metrics=state.metrics, max_body_bytes=settings.max_body_bytes
    )
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app)."""
    settings = ServingSettings()
    configure_logging(settings.log_level)
    return create_app(settings)
