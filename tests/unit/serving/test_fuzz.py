"""Schemathesis against the OpenAPI schema of a live server: no input gives a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from model_serving.app import create_app
from tests.unit.serving.conftest import FakeSource, ThreadedServer


@pytest.fixture(scope="module")
def live_url(pipeline: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from model_serving.settings import ServingSettings

    source = FakeSource()
    source.publish("1", pipeline)
    db: Path = tmp_path_factory.mktemp("fuzz") / "log.db"
    app = create_app(
        ServingSettings(
            database_url=f"sqlite:///{db}",
            admin_token="fuzz-token",
            drift_enabled=False,
            max_text_chars=5_000,
            max_batch_size=16,
            max_body_bytes=200_000,
        ),
        source=source,
    )
    with ThreadedServer(app) as server:
        yield server.url


MAX_EXAMPLES = 15  # per operation and generation mode: ~8 operations x 2 modes, < 60 s


def test_no_input_gives_a_server_error(live_url: str) -> None:
    api = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    checked: list[str] = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def call(case: Any) -> None:
                response = case.call(base_url=live_url, timeout=20)
                where = (case.method, case.path, case.body if case.body is not None else "")
                assert response.status_code < 500, (where, response.text[:500])
                if response.status_code >= 400:
                    assert "error" in response.json(), (where, response.text[:500])

            try:
                call()
            except Unsatisfiable:
                # Operations without parameters or body have no invalid input to generate.
                assert mode is GenerationMode.NEGATIVE, operation.label
        checked.append(operation.label)
    assert {"POST /v1/predict", "POST /v1/feedback", "POST /invocations"} <= set(checked)
