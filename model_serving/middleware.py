"""ASGI middleware: request metrics, the request-body byte limit and a last-resort error guard.

Pure ASGI (no ``BaseHTTPMiddleware``) to keep the per-request cost to a few microseconds. A body
announced bigger than the limit (``Content-Length``) is refused before any of it is read; a body
streamed without a length is counted as it arrives and refused as soon as it passes the limit.
It is the outermost layer: the route template it labels metrics with is the one the inner layer
that answered left in ``scope["route"]`` (FastAPI's route, or ``fast_predict``'s).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_serving.errors import BodyTooLarge, error_body
from model_serving.metrics import ServingMetrics

logger = logging.getLogger(__name__)
UNMATCHED_ROUTE = "unmatched"


class ServingMiddleware:
    """Counts and times every HTTP request and enforces the body byte limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServingMetrics,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        template: str | None = None
        status = 500
        response_started = False
        self.metrics.in_flight.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            length = _content_length(scope)
            if length is not None and length > self.max_body_bytes:
                await _send_json(send_wrapper, 413, BodyTooLarge(self.max_body_bytes).error)
                return
            if length == -1:
                await _send_json(send_wrapper, 400, "invalid Content-Length header")
                return
            received = 0
            limit = self.max_body_bytes

            async def receive_counting() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge(limit)
                return message

            try:
                await self.app(scope, receive_counting, send_wrapper)
            except BodyTooLarge as exc:
                if not response_started:
                    await _send_json(send_wrapper, 413, exc.error)
            except Exception:
                logger.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
                if not response_started:
                    await _send_json(send_wrapper, 500, "internal error")
        finally:
            self.metrics.in_flight.dec()
            if template is None:
                template = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            self.metrics.http_request_done(
                template, scope.get("method", ""), str(status), time.perf_counter() - started
            )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None


async def _send_json(send: Send, status: int, error: str) -> None:
    body = error_body(error)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
