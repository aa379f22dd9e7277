"""The retrain webhook receiver: firing drift/accuracy alerts from Alertmanager start ``retrain``.

Run with ``python -m model_orchestration.webhook`` (host/port from ``ORCHESTRATION_WEBHOOK_*``).

- ``POST /v1/alerts`` (bearer token): Alertmanager's v4 payload. Firing alerts named in
  ``ORCHESTRATION_RETRAIN_ALERTS`` start one retrain unless one is active or within the cool-down;
  resolved or other alerts start nothing. The JSON answer says which, and so does
  ``detector_retrain_triggers_total{result}``.
- ``POST /v1/drift`` (bearer token): the drift_check flow reports its domain-classifier AUC here;
  exported as ``detector_drift_domain_auc``.
- ``GET /healthz``, ``GET /metrics``.

Every other route needs the token, checked by :class:`GuardedBodies` before one byte of the body
is read; the body is then read up to ``ORCHESTRATION_WEBHOOK_MAX_BODY_BYTES`` (413 beyond,
announced or streamed) and only then parsed. Every error is serving's JSON body
``{"error": ..., "detail": ...}`` (``model_serving.errors``), never a traceback.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_orchestration.alertmanager_payload import AlertmanagerPayload
from model_orchestration.metrics import ReceiverMetrics, create_metrics
from model_orchestration.settings import (
    RETRAIN_FLOW,
    OrchestrationSettings,
    deployment_name,
    prefect_api_url,
)
from model_orchestration.triggers import (
    PrefectDeploymentLauncher,
    RetrainLauncher,
    RetrainTrigger,
    ThreadLauncher,
    TriggerDecision,
    TriggerResult,
)
from model_serving.error_handlers import error_response, install_error_handlers
from model_serving.errors import RequestInvalid, Unavailable, error_body
from platform_processes.logging_config import configure_logging

logger = logging.getLogger(__name__)


class TriggerResponse(BaseModel):
    result: TriggerResult
    detail: str
    run_id: str | None = None
    alerts: list[str] = Field(description="Firing alerts of this notification that ask for retrain")


class DriftReport(BaseModel):
    auc: float = Field(ge=0.0, le=1.0)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    drifted: bool | None = None
    n_recent: int | None = Field(default=None, ge=0)
    n_reference: int | None = Field(default=None, ge=0)


#: Routes anyone may call (probes and the scrape); every other route needs the bearer token.
OPEN_PATHS = frozenset({"/healthz", "/metrics"})


class GuardedBodies:
    """ASGI middleware: token first, then a bounded body, then the application.

    An unauthenticated caller gets 401 without the body being read; an authenticated one gets 413
    for a body announced or streamed past ``max_body_bytes``. The body that passes is handed to the
    application in one piece, so FastAPI parses only what was checked.
    """

    def __init__(self, app: ASGIApp, *, token: bytes, max_body_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        scheme, _, credentials = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer" or not secrets.compare_digest(credentials, self.token):
            await self._refuse(
                send,
                401,
                "unauthorized",
                "missing or wrong bearer token",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        announced = headers.get(b"content-length", b"")
        if announced.isdigit() and int(announced) > self.max_body_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        detail = f"request body is larger than the limit of {self.max_body_bytes} bytes"
        await self._refuse(send, 413, "request body too large", detail, [])

    @staticmethod
    async def _refuse(
        send: Send, status_code: int, error: str, detail: str, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """Answer with serving's error body (``model_serving.errors``'s shape) from ASGI."""
        body = error_body(error, detail)
        start_headers = [(b"content-type", b"application/json"), *headers]
        start_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status_code, "headers": start_headers})
        await send({"type": "http.response.body", "body": body})


def default_launcher(settings: OrchestrationSettings) -> RetrainLauncher:
    """Prefect deployment runs when ``PREFECT_API_URL`` is set, else a local background thread."""
    if prefect_api_url():
        return PrefectDeploymentLauncher(
            deployment_name(RETRAIN_FLOW), RETRAIN_FLOW, settings.retrain_stale_after
        )

    def run_retrain(**parameters: Any) -> object:
        from model_orchestration.flows.retrain import retrain

        return retrain(**parameters)

    return ThreadLauncher(run_retrain)


def create_app(
    settings: OrchestrationSettings | None = None,
    launcher: RetrainLauncher | None = None,
    metrics: ReceiverMetrics | None = None,
) -> FastAPI:
    """Build the receiver; ``launcher`` and ``metrics`` are injectable for tests."""
    settings = settings or OrchestrationSettings()
    if settings.webhook_token is None:
        raise ValueError("ORCHESTRATION_WEBHOOK_TOKEN must be set (at least 8 characters)")
    metrics = metrics or create_metrics()
    trigger = RetrainTrigger(launcher or default_launcher(settings), settings.cooldown)
    retrain_alerts = frozenset(settings.retrain_alerts)
    app = FastAPI(
        title="Retrain webhook",
        description="Receives Alertmanager notifications and starts the retrain flow.",
        version="1",
    )
    app.state.trigger = trigger
    app.state.metrics = metrics
    app.add_middleware(
        GuardedBodies,
        token=settings.webhook_token.get_secret_value().encode(),
        max_body_bytes=settings.webhook_max_body_bytes,
    )
    install_error_handlers(app)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal error", "see the receiver's log")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/alerts",
        response_model=TriggerResponse,
        responses={
            401: {"description": "missing or wrong bearer token"},
            413: {"description": "body over ORCHESTRATION_WEBHOOK_MAX_BODY_BYTES"},
            503: {"description": "the retrain could not be started; Alertmanager retries"},
        },
    )
    def receive_alerts(payload: AlertmanagerPayload) -> TriggerResponse:
        firing = sorted({alert.name for alert in payload.firing(retrain_alerts)})
        if not firing:
            decision = TriggerDecision(
                TriggerResult.IGNORED,
                f"no firing alert among {sorted(retrain_alerts)} in this "
                f"{payload.status} notification; nothing started",
            )
        else:
            reason = "alert: " + ", ".join(firing)
            try:
                decision = trigger.request(reason)
            except Exception as exc:
                logger.exception("could not start retrain")
                # 5xx makes Alertmanager retry the notification later.
                raise Unavailable(
                    "could not start retrain", f"{type(exc).__name__} (see the receiver's log)"
                ) from exc
        metrics.retrain_triggers.labels(result=decision.result.value).inc()
        logger.info("alert notification %s (%s): %s", payload.group_key, firing, decision.detail)
        return TriggerResponse(
            result=decision.result, detail=decision.detail, run_id=decision.run_id, alerts=firing
        )

    @app.post("/v1/drift")
    def report_drift(report: DriftReport) -> dict[str, float]:
        if math.isnan(report.auc):
            raise RequestInvalid("auc is NaN")
        metrics.drift_domain_auc.set(report.auc)
        return {"auc": report.auc}

    return app


def main() -> None:
    """Entry point: configure logging, read settings, serve with uvicorn."""
    import uvicorn

    configure_logging()
    settings = OrchestrationSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.webhook_host,
        port=settings.webhook_port,
        log_config=None,  # uvicorn's records go through the platform's one format
    )


if __name__ == "__main__":
    main()
