"""Hostile inputs against every route: no 5xx, and the prediction log still flows afterwards.

Two sources of requests, both sent to a real serving process whose prediction log is the
machine's MariaDB (the strictest of the databases it supports about what text it stores):

- schemathesis, generating requests from serving's own OpenAPI document for every operation
  (property-based: valid and invalid bodies, headers, query strings);
- a fixed corpus of strings known to break services: lone surrogates (valid JSON for a permissive
  decoder, not encodable as UTF-8: a database insert of the whole batch fails), NUL bytes,
  right-to-left and zero-width marks, a 100,000-character word, deeply nested JSON, invalid
  UTF-8, wrong content types, huge numbers -- sent in every field of every route that takes one.

After both, a valid prediction must still reach the prediction log within seconds.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import create_engine, select

from model_serving.prediction_log.schema import predictions_table
from tests.faults.load import record
from tests.support.servers import ServerProcess, wait_until
from tests.support.serving_servers import metric

pytestmark = pytest.mark.timeout(400)

#: Examples schemathesis generates per operation (bounded: the whole tier stays short).
EXAMPLES_PER_OPERATION = 60

HOSTILE_STRINGS: dict[str, str] = {
    "lone_surrogate": "An essay \ud800 with a lone surrogate.",
    "surrogate_pair_escaped_low_first": "\udc00\ud800",
    "nul": "An essay\x00 with a NUL byte.\x00",
    "rtl_marks": "\u202eAn essay\u202c with \u200f right-to-left \u2066marks\u2069.",
    "zero_width": "A\u200bn\u200c e\u200dss\ufeffay",
    "word_100k": "a" * 100_000,
    "word_100k_plus_one": "b" * 100_001,
    "emoji_and_combining": "e\u0301\u0301\u0301 \U0001f600" * 1000,
    "control_chars": "".join(chr(c) for c in range(1, 32)) * 10,
    "sql_quote": "'; DROP TABLE predictions; --",
    "format_string": "%s%s%s{0}{text}%n",
    "empty": "",
    "whitespace_only": " \t\n\r\u00a0\u3000",
    "noncharacters": "\ufffe\uffff\U0010ffff",
}


JSON_HEADER = {"Content-Type": "application/json"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def as_json(body: object, *, raw_utf8: bool = False) -> dict[str, Any]:
    """``body`` as a JSON request, built by hand: an HTTP client refuses to encode a lone
    surrogate, a hostile client does not. ASCII escapes (``\\ud800``) by default; ``raw_utf8``
    sends the characters themselves (a surrogate as the invalid bytes ``ED A0 80``)."""
    text = json.dumps(body, ensure_ascii=not raw_utf8)
    return {"content": text.encode("utf-8", "surrogatepass"), "headers": JSON_HEADER}


def header_value(value: str) -> bytes:
    """A header value as raw bytes (UTF-8, surrogates included), as a hostile client sends it."""
    return value.encode("utf-8", "surrogatepass")


def hostile_requests(admin_token: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) for every route and every hostile input."""
    json_header = JSON_HEADER
    body: dict[str, Any]
    for name, value in HOSTILE_STRINGS.items():
        for body in (
            {"text": value},
            {"texts": [value, "A fine second essay about cars."]},
            {"text": value, "explain": True},
            {name: value},
        ):
            yield "POST", "/v1/predict", as_json(body)
            yield "POST", "/v1/predict", as_json(body, raw_utf8=True)
        for body in (
            {"inputs": [value]},
            {"instances": [{"text": value}]},
            {"dataframe_split": {"columns": ["text"], "data": [[value]]}},
            {"dataframe_records": [{"text": value}]},
            {"inputs": [value], "params": {"predict_fn": value}},
        ):
            yield "POST", "/invocations", as_json(body)
            yield "POST", "/invocations", as_json(body, raw_utf8=True)
        yield "POST", "/v1/feedback", as_json({"prediction_id": value, "label": "ai"})
        yield "POST", "/v1/feedback", as_json({"prediction_id": "0" * 32, "label": value})
        authorization = header_value(f"Bearer {value[:5000]}")
        yield "POST", "/admin/reload", {"headers": {"Authorization": authorization}}
        query = quote(value[:5000].encode("utf-8", "surrogatepass"))
        yield "GET", f"/v1/model?q={query}", {}
    for depth in (100, 1_000, 100_000):
        for path in ("/v1/predict", "/invocations", "/v1/feedback"):
            yield "POST", path, {"content": nested(depth), "headers": json_header}
            yield (
                "POST",
                path,
                {"content": '{"text": ' + nested(depth) + "}", "headers": json_header},
            )
    raw_bodies = {
        "invalid_utf8": b'{"text": "\xff\xfe\xc3("}',
        "escaped_surrogate": b'{"text": "essay \\ud800 end"}',
        "escaped_nul": b'{"text": "essay \\u0000 end"}',
        "huge_number": b'{"text": 1' + b"0" * 5000 + b"}",
        "nan": b'{"text": NaN, "explain": Infinity}',
        "duplicate_keys": b'{"text": "a", "text": "b", "texts": ["c"]}',
        "truncated": b'{"text": "an essay',
        "empty": b"",
        "not_json": b"text=an+essay",
        "utf16": '{"text": "an essay"}'.encode("utf-16"),
        "oversized_body": b'{"text": "' + b"x" * 6_000_000 + b'"}',
    }
    for raw in raw_bodies.values():
        for path in ("/v1/predict", "/invocations", "/v1/feedback"):
            yield "POST", path, {"content": raw, "headers": json_header}
        yield "POST", "/v1/predict", {"content": raw, "headers": {"Content-Type": "text/plain"}}
    for content_type in (
        "application/json; charset=utf-16",
        "application/x+json",
        "\x00",
        "a" * 8000,
    ):
        yield (
            "POST",
            "/v1/predict",
            {"content": b'{"text": "essay"}', "headers": {"Content-Type": content_type}},
        )
    for path in ("/healthz", "/readyz", "/metrics", "/v1/model", "/openapi.json", "/docs"):
        headers = {"Accept": "\x01" * 100, "X-Forwarded-For": header_value("\u202e" * 100)}
        yield "GET", path, {"headers": headers}
    yield "POST", "/admin/reload", {"headers": {"Authorization": f"Bearer {admin_token}x"}}
    yield "POST", "/admin/reload", {"headers": {"Authorization": "Basic " + "A" * 10_000}}


def run_corpus(url: str, admin_token: str) -> tuple[Counter[int], list[str]]:
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for method, path, kwargs in hostile_requests(admin_token):
            try:
                response = client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                # A header httpx itself cannot send (e.g. NUL) never reaches the server.
                if isinstance(exc, httpx.LocalProtocolError):
                    continue
                server_errors.append(f"{method} {path} {str(kwargs)[:120]}: {exc!r}")
                continue
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(f"{method} {path} {str(kwargs)[:120]}: {response.text[:200]}")
    return statuses, server_errors


def run_schemathesis(url: str) -> tuple[Counter[int], list[str], int]:
    """Every operation of serving's OpenAPI document, ``EXAMPLES_PER_OPERATION`` examples each."""
    import schemathesis
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(base_url=url, timeout=60)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.path}: {response.text[:200]}")

        call()
    return statuses, server_errors, operations


def test_hostile_inputs_get_no_5xx_and_the_log_still_flows(
    own_mariadb_url: str, champion: str, mlflow_env: dict[str, str], serving: Callable[..., Any]
) -> None:
    server: ServerProcess = serving({**mlflow_env, "SERVING_DATABASE_URL": own_mariadb_url})
    token = server.extra["admin_token"]

    started = time.monotonic()
    corpus_statuses, corpus_errors = run_corpus(server.url, token)
    corpus_seconds = time.monotonic() - started
    started = time.monotonic()
    fuzz_statuses, fuzz_errors, operations = run_schemathesis(server.url)
    fuzz_seconds = time.monotonic() - started

    answer = httpx.post(f"{server.url}/v1/predict", json={"text": "An essay about cars."}).json()
    engine = create_engine(own_mariadb_url)

    def logged() -> bool:
        with engine.connect() as conn:
            query = select(predictions_table.c.id).where(
                predictions_table.c.id == answer["prediction_id"]
            )
            return conn.execute(query).first() is not None

    try:
        wait_until(logged, timeout=30, what="a prediction after the hostile inputs logged")
        with engine.connect() as conn:
            rows = len(conn.execute(select(predictions_table.c.id)).all())
    finally:
        engine.dispose()
    rejected = metric(server.url, "detector_prediction_log_rejected_total")
    dropped = metric(server.url, "detector_prediction_log_dropped_total")
    record(
        "hostile_inputs",
        {
            "corpus_requests": sum(corpus_statuses.values()),
            "corpus_status_counts": {str(k): v for k, v in sorted(corpus_statuses.items())},
            "corpus_seconds": round(corpus_seconds, 1),
            "schemathesis_operations": operations,
            "schemathesis_requests": sum(fuzz_statuses.values()),
            "schemathesis_status_counts": {str(k): v for k, v in sorted(fuzz_statuses.items())},
            "schemathesis_seconds": round(fuzz_seconds, 1),
            "responses_5xx": len(corpus_errors) + len(fuzz_errors),
            "prediction_rows_logged": rows,
            "rows_set_aside_by_database": rejected,
            "rows_dropped": dropped,
        },
    )
    assert not corpus_errors, corpus_errors[:10]
    assert not fuzz_errors, fuzz_errors[:10]
    assert operations >= 8 and sum(fuzz_statuses.values()) >= operations * 10
    assert rejected == 0 and dropped == 0
