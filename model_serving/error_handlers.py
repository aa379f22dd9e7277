"""FastAPI exception handlers: every failure answers ``errors.error_body``, never a traceback.

Validation errors keep only location, message and type (never the offending input, which may be
a 100 000-character text). Failures FastAPI raises while reading a body (invalid UTF-8, JSON too
deep for the decoder) are 400 with a message written here, not the library's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from model_serving.errors import ServingError, error_body
from model_serving.request_parsing import validation_summary

BODY_PARSE_ERROR = "There was an error parsing the body"


def error_response(
    status: int, error: str, detail: Any = None, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        error_body(error, detail),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def serving_error_response(exc: ServingError) -> Response:
    return error_response(exc.status_code, exc.error, exc.detail, exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        error, details = validation_summary(list(exc.errors()))
        return error_response(422, error, details)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        cause = exc.__cause__
        if isinstance(cause, ServingError):
            return serving_error_response(cause)
        detail = exc.detail
        if exc.status_code == 400 and detail == BODY_PARSE_ERROR:
            if isinstance(cause, UnicodeDecodeError):
                detail = "request body is not valid UTF-8"
            elif isinstance(cause, RecursionError):
                detail = "request body nests JSON too deeply"
            else:
                detail = "request body could not be parsed"
        return error_response(exc.status_code, str(detail), None, exc.headers)

    @app.exception_handler(ServingError)
    async def _serving(request: Request, exc: ServingError) -> Response:
        return serving_error_response(exc)
