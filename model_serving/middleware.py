"""ASGI middleware: request metrics, the request-body byte limit and a last-resort error guard.

Pure ASGI (no ``BaseHTTPMiddleware``) to keep the per-request cost to a few microseconds. A body
announced bigger than the limit (``Content-Length``) is refused before any of it is read; a body
streamed without a length is counted as it arrives and refused as soon as it passes the limit.
Given the serving state, it also answers the common ``POST /v1/predict`` request itself
(``model_serving.fast_predict``) and replays anything else to the FastAPI route.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_serving.fast_predict import PATH as FAST_PATH
from model_serving.fast_predict import fast_predict, wants_fast_path
from model_serving.metrics import ServingMetrics
from model_serving.state import ServingState

logger = logging.getLogger(__name__)
UNMATCHED_ROUTE = "unmatched"


class BodyTooLarge(HTTPException):
    """The request body is over ``SERVING_MAX_BODY_BYTES`` (an HTTPException, so that FastAPI's
    body parsing lets it through to the 413 handler)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")


def json_error(status: int, error: str, detail: Any = None) -> bytes:
    return json.dumps({"error": error, "detail": detail}).encode()


class ServingMiddleware:
    """Counts and times every HTTP request and enforces the body byte limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServingMetrics,
        max_body_bytes: int,
        state: ServingState | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        #: With a state, ``POST /v1/predict`` takes the fast path (``model_serving.fast_predict``).
        self.state = state

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
                await _send_json(send_wrapper, 413, BodyTooLarge(self.max_body_bytes).detail)
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
                if self.state is not None and wants_fast_path(scope, scope.get("method", "")):
                    template = FAST_PATH
                    await self._fast(scope, receive_counting, send_wrapper)
                else:
                    await self.app(scope, receive_counting, send_wrapper)
            except BodyTooLarge as exc:
                if not response_started:
                    await _send_json(send_wrapper, 413, exc.detail)
            except Exception:
                logger.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
                if not response_started:
                    await _send_json(send_wrapper, 500, "internal error")
        finally:
            self.metrics.in_flight.dec()
            if template is None:
                template = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            self.metrics.http_requests.labels(template, scope.get("method", ""), str(status)).inc()
            self.metrics.http_duration.labels(template).observe(time.perf_counter() - started)

    async def _fast(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the common predict request here, or replay its body to the FastAPI route."""
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        answer = await fast_predict(self.state, body)  # type: ignore[arg-type]
        if answer is None:
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await answer(scope, receive, send)


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
    body = json_error(status, error)
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
