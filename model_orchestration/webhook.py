"""The retrain webhook receiver: firing drift/accuracy alerts from Alertmanager start ``retrain``.

Run with ``python -m model_orchestration.webhook`` (host/port from ``ORCHESTRATION_WEBHOOK_*``).

- ``POST /v1/alerts`` (bearer token): Alertmanager's v4 payload. Firing alerts named in
  ``ORCHESTRATION_RETRAIN_ALERTS`` start one retrain unless one is active or within the cool-down;
  resolved or other alerts start nothing. The JSON answer says which, and so does
  ``detector_retrain_triggers_total{result}``.
- ``POST /v1/drift`` (bearer token): the drift_check flow reports its domain-classifier AUC here;
  exported as ``detector_drift_domain_auc``.
- ``GET /healthz``, ``GET /metrics``.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

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


_bearer = HTTPBearer(auto_error=False)


def authorised(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Dependency: the shared bearer token (constant-time comparison) or 401."""
    expected: bytes = request.app.state.token
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), expected
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


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
    app.state.token = settings.webhook_token.get_secret_value().encode()

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error; see server log"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/alerts",
        response_model=TriggerResponse,
        dependencies=[Depends(authorised)],
        responses={401: {"description": "missing or wrong token"}, 503: {"description": ""}},
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
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    detail=f"could not start retrain: {type(exc).__name__}: {exc}",
                ) from exc
        metrics.retrain_triggers.labels(result=decision.result.value).inc()
        logger.info("alert notification %s (%s): %s", payload.group_key, firing, decision.detail)
        return TriggerResponse(
            result=decision.result, detail=decision.detail, run_id=decision.run_id, alerts=firing
        )

    @app.post("/v1/drift", dependencies=[Depends(authorised)])
    def report_drift(report: DriftReport) -> dict[str, float]:
        if math.isnan(report.auc):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail="auc is NaN")
        metrics.drift_domain_auc.set(report.auc)
        return {"auc": report.auc}

    return app


def main() -> None:
    """Entry point: configure logging, read settings, serve with uvicorn."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = OrchestrationSettings()
    uvicorn.run(create_app(settings), host=settings.webhook_host, port=settings.webhook_port)


if __name__ == "__main__":
    main()
