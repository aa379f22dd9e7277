"""Every failure serving knows about, under one base, and the one JSON body they are answered with.

``ServingError`` carries an HTTP status, a short ``error`` and an optional ``detail``; every
expected failure is one of its subclasses, whichever layer raises it (request parsing, scoring,
the model holder, the prediction log). ``error_body`` renders ``{"error": ..., "detail": ...}``;
the FastAPI handlers (``error_handlers``) and the predict fast path (``fast_predict``) both answer
with it, so one failure gives the same bytes on every path. No exception text from a library
ever goes into ``error`` or ``detail``: a message is written here or by the raiser, for clients.

Standard library only: the inner layers import it without pulling in the web framework.
"""

from __future__ import annotations

import json
from typing import Any


class ServingError(Exception):
    """An expected failure with its HTTP status (``status_code``) and a client-safe message."""

    status_code = 500

    def __init__(self, error: str, detail: Any = None, *, status_code: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.error}: {self.detail}" if isinstance(self.detail, str) else self.error

    @property
    def headers(self) -> dict[str, str]:
        return {}


class RequestInvalid(ServingError):
    """The request is malformed or breaks a limit (422 unless the raiser says 400)."""

    status_code = 422


class BodyTooLarge(RequestInvalid):
    """The request body is over ``SERVING_MAX_BODY_BYTES``."""

    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the limit of {limit} bytes")


class NotAuthorized(ServingError):
    """A missing or wrong admin bearer token (401), or admin routes disabled (403)."""

    status_code = 401


class NotFound(ServingError):
    status_code = 404


class Conflict(ServingError):
    """The request repeats something that may happen once (feedback on one prediction)."""

    status_code = 409


class RateLimited(ServingError):
    """The client sent more requests than its share; ``retry_after`` seconds until the next."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests from this client", {"retry_after_seconds": retry_after})
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(ServingError):
    """Something serving needs is not there right now (503, retry later)."""

    status_code = 503

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class ModelUnavailable(Unavailable):
    """No model is loaded; the detail says why."""

    def __init__(self, reason: str) -> None:
        super().__init__("model not available", reason)


class PredictionLogUnavailable(Unavailable):
    """The prediction log's database or queue cannot take or answer a request now."""


class PredictionFailed(ServingError):
    """The model raised on a batch (500; the cause is logged, never sent)."""

    def __init__(self) -> None:
        super().__init__("prediction failed")


class ModelRejected(ServingError):
    """A loaded version failed its load-time checks; it will not be served."""


def error_body(error: str, detail: Any = None) -> bytes:
    """The one error body of the service, as bytes (compact JSON, UTF-8)."""
    # ASCII escapes: a field name taken from the request may hold a lone surrogate, which
    # cannot be encoded as UTF-8; the body must render whatever the client sent.
    return json.dumps({"error": error, "detail": detail}, separators=(",", ":")).encode("ascii")
