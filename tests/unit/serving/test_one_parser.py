"""One parser, one validator: the fast path and the FastAPI route answer every body alike.

The same hostile corpus goes to an app with the fast path (``SERVING_FAST_PATH=true``, JSON
bodies answered before FastAPI's routing) and to one without it (every request reaches the
route); status, content type and body must be equal byte for byte. Prediction ids are made
deterministic so that successful answers compare exactly too.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model_serving import prediction

ESSAY = "The committee reviewed the proposal and asked for a clearer budget. " * 4

HOSTILE_BODIES: list[bytes] = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"3",
    b'"text"',
    b"{}",
    b'{"text": null}',
    b'{"text": 3}',
    b'{"text": ""}',
    b'{"text": " \\n\\t "}',
    b'{"text": "a \\ud800"}',  # lone surrogate: valid JSON, not encodable as UTF-8
    b'{"text": "\\udc00 trailing"}',
    b'{"texts": ["fine text here", "bad \\ud83d"]}',
    b'{"text": "caf\xc3"}',  # invalid UTF-8
    b'\xff\xfe{"text": "abc"}',
    b'\xef\xbb\xbf{"text": "byte order mark"}',
    b'{"text": "nul \\u0000 inside"}',
    b'{"text": "right-to-left \\u202e mark \\u200f"}',
    b'{"text": "emoji \\ud83d\\ude00 pair"}',
    b'{"text": ' + b"[" * 3000 + b"]" * 3000 + b"}",  # deeply nested
    b"[" * 100_000,
    b'{"text": "' + b"x" * 6_000 + b'"}',  # over max_text_chars
    b'{"texts": []}',
    b'{"texts": ' + json.dumps(["word"] * 20).encode() + b"}",  # over max_batch_size
    b'{"texts": ["ok", null]}',
    b'{"text": "a", "texts": ["b"]}',
    b'{"text": "a", "explain": "yes"}',
    b'{"text": "a", "surprise": 1}',
    b'{"text": "a", "\\ud800": 1}',
    b'{"text": NaN}',
    b'{"text": "dup", "text": "duplicate key"}',
    b'{"text": 1e999999}',
    b'{"text": "' + ESSAY.encode() + b'"}',
    b'{"texts": ["' + ESSAY.encode() + b'", "short one"], "explain": true}',
    json.dumps({"text": ESSAY, "explain": False}).encode(),
]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "application/x+json"]


@pytest.fixture
def apps(serve: Any, tmp_path: Path) -> Iterator[dict[bool, TestClient]]:
    """``True``: an app with the fast path; ``False``: one whose route answers everything."""
    limits = {"max_text_chars": 5_000, "max_batch_size": 16}
    with (
        serve(fast_path=True, database_url=f"sqlite:///{tmp_path / 'fast.db'}", **limits) as fast,
        serve(
            fast_path=False, database_url=f"sqlite:///{tmp_path / 'route.db'}", **limits
        ) as route,
    ):
        yield {True: fast, False: route}


def test_fast_path_and_route_answer_every_body_alike(
    apps: dict[bool, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    compared = 0
    for index, body in enumerate(HOSTILE_BODIES):
        for content_type in CONTENT_TYPES:
            answers = {}
            for fast in (True, False):
                ids = itertools.count(index * 1000)
                monkeypatch.setattr(
                    prediction, "new_prediction_id", lambda ids=ids: f"{next(ids):032x}"
                )
                response = apps[fast].post(
                    "/v1/predict", content=body, headers={"content-type": content_type}
                )
                answers[fast] = (
                    response.status_code,
                    response.headers["content-type"],
                    response.content,
                )
            where = (body[:80], content_type)
            assert answers[True] == answers[False], where
            status = answers[True][0]
            assert status < 500, (where, answers[True])
            compared += 1
    assert compared == len(HOSTILE_BODIES) * len(CONTENT_TYPES)


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "a \\ud800"}',
        b'{"texts": ["fine text here", "bad \\ud83d"]}',
        b'{"text": "caf\xc3"}',
        b'{"text": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_unencodable_or_deeply_nested_bodies_are_400(
    apps: dict[bool, TestClient], body: bytes, fast: bool
) -> None:
    response = apps[fast].post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error", "detail"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": ["a \\ud800 b"]}',
        b'{"dataframe_records": [{"text": "x \\udfff"}]}',
        b'{"inputs": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    ],
)
def test_invocations_refuses_unencodable_and_deeply_nested_bodies_with_400(
    apps: dict[bool, TestClient], body: bytes
) -> None:
    response = apps[True].post(
        "/invocations", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]
