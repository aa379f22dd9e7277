"""``POST /v1/predict`` with a JSON body answered without FastAPI's per-request machinery.

An ASGI layer in front of the FastAPI app: it reads the body and hands it to
``prediction.answer_predict`` -- the very function the FastAPI route calls -- and sends the bytes
it returns, or the ``errors.error_body`` of the ``ServingError`` it raises, exactly as the route's
error handler would. Routing, dependency solving and the ``Request`` object cost a large share of
a request's CPU next to the model call. Every other request goes to the FastAPI app untouched;
nothing is replayed, so there is one parser and one validator whichever path answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from model_serving.errors import ServingError, error_body
from model_serving.prediction import answer_predict
from model_serving.rate_limit import client_key
from model_serving.request_parsing import is_json_content_type
from model_serving.wiring import ServingState

PATH = "/v1/predict"


@dataclass(frozen=True)
class RouteTemplate:
    """What the metrics middleware reads from ``scope["route"]`` (the route's path template)."""

    path: str


FAST_ROUTE = RouteTemplate(PATH)


def wants_fast_path(scope: Scope) -> bool:
    """POST /v1/predict with a JSON content type."""
    if scope.get("method") != "POST" or scope.get("path") != PATH:
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return is_json_content_type(value.decode("latin-1"))
    return False


class FastPredict:
    """Answers ``POST /v1/predict`` (JSON) itself; passes everything else to ``app``."""

    def __init__(self, app: ASGIApp, *, state: ServingState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not wants_fast_path(scope):
            await self.app(scope, receive, send)
            return
        scope["route"] = FAST_ROUTE
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        content_type = forwarded = None
        client_header = self.state.settings.rate_limit_client_header
        wanted = client_header.lower().encode("latin-1") if client_header else None
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == wanted:
                forwarded = value.decode("latin-1")
        peer = scope.get("client")
        client = client_key(peer[0] if peer else None, forwarded)
        status, headers = 200, {}
        try:
            body = await answer_predict(self.state, b"".join(chunks), content_type, client)
        except ServingError as exc:
            status, headers, body = exc.status_code, exc.headers, error_body(exc.error, exc.detail)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
