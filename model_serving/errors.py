"""Error responses: every failure is a JSON body ``{"error": ..., "detail": ...}``, no traceback.

Validation errors keep only location, message and type (never the offending input, which may be
a 100 000-character text).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

BODY_PARSE_ERROR = "There was an error parsing the body"


class ServiceError(Exception):
    """An expected failure with its HTTP status (503 model unavailable, 404 unknown id...)."""

    def __init__(self, status_code: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status_code = status_code
        self.error = error
        self.detail = detail


def error_response(status: int, error: str, detail: Any = None) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def _validation_summary(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    details: list[dict[str, Any]] = []
    error = "invalid request body"
    for item in exc.errors():
        kind = str(item.get("type", ""))
        loc = [part for part in item.get("loc", ()) if part != "body"]
        message = str(item.get("msg", ""))
        if kind == "json_invalid":
            error = "request body is not valid JSON"
            message = f"{message}: {item.get('ctx', {}).get('error', '')}".rstrip(": ")
        elif kind in {"model_attributes_type", "dict_type"} and not loc:
            if isinstance(item.get("input"), bytes | bytearray):
                error = "request body must be JSON sent with Content-Type: application/json"
            else:
                error = "request body must be a JSON object"
        elif kind == "missing" and not loc:
            error = "request body is missing"
        details.append({"loc": loc, "msg": message.removeprefix("Value error, "), "type": kind})
    return error, details


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        error, details = _validation_summary(exc)
        return error_response(422, error, details)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and detail == BODY_PARSE_ERROR:
            cause = exc.__cause__
            detail = (
                "request body is not valid UTF-8"
                if isinstance(cause, UnicodeDecodeError)
                else f"request body could not be parsed ({type(cause).__name__})"
            )
        return error_response(exc.status_code, str(detail))

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status_code, exc.error, exc.detail)
