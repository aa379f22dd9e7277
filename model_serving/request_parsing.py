"""The one parser and validator of request bodies, whichever path answers the request.

``parse_predict`` turns the raw bytes and ``Content-Type`` of ``POST /v1/predict`` into the texts
to score, or raises ``RequestInvalid`` with the body every path answers; the FastAPI route and the
fast path (``fast_predict``) both call it, so neither can accept or refuse what the other would
not. ``decode_json`` is the JSON decoder of every body serving parses itself (``/v1/predict`` and
``/invocations``); ``check_texts`` the validator of every text that will be scored.

Why the texts are checked for lone surrogates: ``"\\ud800"`` is valid JSON for a permissive
decoder (Python's ``json``) but cannot be encoded as UTF-8, so a text holding one would fail every
database insert of the prediction log. ``decode_json`` refuses such strings (400) and
``check_texts`` refuses any text that is not encodable, whatever decoded it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pydantic_core
from pydantic import ValidationError

from model_serving.errors import RequestInvalid
from model_serving.schemas import PredictRequest

JSON_CONTENT_TYPE_ERROR = "request body must be JSON sent with Content-Type: application/json"


@dataclass(frozen=True, slots=True)
class PredictInput:
    """A valid ``/v1/predict`` request: the texts, whether it was one ``text``, ``explain``."""

    texts: list[str]
    single: bool
    explain: bool


def is_json_content_type(value: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json`` (parameters ignored)."""
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def decode_json(body: bytes, *, invalid_status: int = 422) -> Any:
    """The JSON value of ``body``; ``RequestInvalid`` saying what is wrong otherwise.

    Invalid UTF-8, a string that is not valid Unicode (a lone surrogate escape) and nesting
    beyond the decoder's depth limit are 400; other syntax errors ``invalid_status``.
    """
    try:
        return pydantic_core.from_json(body)
    except ValueError as exc:
        raise _diagnose(body, str(exc), invalid_status) from None


def _diagnose(body: bytes, message: str, invalid_status: int) -> RequestInvalid:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return RequestInvalid("request body is not valid UTF-8", status_code=400)
    if "recursion limit exceeded" in message:
        return RequestInvalid("request body nests JSON too deeply", status_code=400)
    try:
        lenient = json.loads(text)
    except (ValueError, RecursionError):
        lenient = None
    else:
        if _holds_unencodable_string(lenient):
            return RequestInvalid(
                "request body holds a string that is not valid Unicode (a lone surrogate "
                "escape such as \\ud800); it cannot be encoded as UTF-8",
                status_code=400,
            )
    detail = [{"loc": [], "msg": message.removeprefix("Invalid JSON: "), "type": "json_invalid"}]
    return RequestInvalid("request body is not valid JSON", detail, status_code=invalid_status)


def _holds_unencodable_string(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validation_summary(errors: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """A headline and ``[{"loc", "msg", "type"}]`` for pydantic errors (never the input)."""
    details: list[dict[str, Any]] = []
    error = "invalid request body"
    for item in errors:
        kind = str(item.get("type", ""))
        loc = [part for part in item.get("loc", ()) if part != "body"]
        message = str(item.get("msg", ""))
        if kind == "json_invalid":
            error = "request body is not valid JSON"
            message = f"{message}: {item.get('ctx', {}).get('error', '')}".rstrip(": ")
        elif kind in {"model_attributes_type", "dict_type", "model_type"} and not loc:
            if isinstance(item.get("input"), bytes | bytearray):
                error = JSON_CONTENT_TYPE_ERROR
            else:
                error = "request body must be a JSON object"
        elif kind == "missing" and not loc:
            error = "request body is missing"
        details.append({"loc": loc, "msg": message.removeprefix("Value error, "), "type": kind})
    return error, details


def parse_predict(
    body: bytes, content_type: str | None, *, max_batch_size: int, max_text_chars: int
) -> PredictInput:
    """Decode and validate a ``/v1/predict`` body (see the module docstring)."""
    if not is_json_content_type(content_type):
        raise RequestInvalid(
            JSON_CONTENT_TYPE_ERROR,
            [{"loc": [], "msg": "Content-Type is not JSON", "type": "content_type"}],
        )
    value = decode_json(body) if body else None
    if value is None:
        raise RequestInvalid(
            "request body is missing", [{"loc": [], "msg": "Field required", "type": "missing"}]
        )
    if not isinstance(value, dict):
        raise RequestInvalid(
            "request body must be a JSON object",
            [{"loc": [], "msg": "Input should be an object", "type": "model_type"}],
        )
    try:
        request = PredictRequest.model_validate(value)
    except ValidationError as exc:
        error, details = validation_summary(exc.errors(include_input=False, include_url=False))
        raise RequestInvalid(error, details) from None
    single = request.text is not None
    texts = check_texts(
        request.all_texts(),
        "text" if single else "texts",
        max_batch_size=max_batch_size,
        max_text_chars=max_text_chars,
    )
    return PredictInput(texts=texts, single=single, explain=request.explain)


def check_texts(
    texts: list[Any], field: str, *, max_batch_size: int, max_text_chars: int
) -> list[str]:
    """The texts if every one may be scored; ``RequestInvalid`` naming the first that may not."""
    if not texts:
        _refuse(field, f"{field} is empty: give at least one text", "too_short")
    if len(texts) > max_batch_size:
        _refuse(field, f"{field} has {len(texts)} texts; the limit is {max_batch_size}", "too_long")
    for index, text in enumerate(texts):
        where = f"{field}[{index}]" if len(texts) > 1 or field != "text" else field
        if not isinstance(text, str):
            _refuse(where, f"{where} must be a string, got {type(text).__name__}", "string_type")
        if not text.strip():
            _refuse(where, f"{where} is empty or only whitespace", "value_error")
        if len(text) > max_text_chars:
            _refuse(
                where,
                f"{where} has {len(text)} characters; the limit is {max_text_chars}",
                "string_too_long",
            )
        if not _encodable(text):
            raise RequestInvalid(
                f"{where} is not valid Unicode (it holds a lone surrogate) and cannot be "
                "encoded as UTF-8",
                [{"loc": [where], "msg": "not encodable as UTF-8", "type": "unicode"}],
                status_code=400,
            )
    return texts


def _refuse(where: str, message: str, kind: str) -> None:
    raise RequestInvalid(message, [{"loc": [where], "msg": message, "type": kind}])
