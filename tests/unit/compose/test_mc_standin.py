"""The container tier's ``mc`` stand-in retries a filer call that timed out (a loaded machine):
one slow answer of the S3 stand-in must not fail ``minio-init`` on a second ``up``."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MC = Path(__file__).resolve().parents[2] / "containers" / "standins" / "mc" / "mc"


def load_mc() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("mc_standin", str(MC))
    spec = importlib.util.spec_from_loader("mc_standin", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("first_failure", [TimeoutError("timed out"), ConnectionResetError()])
def test_a_call_that_timed_out_is_retried(
    monkeypatch: pytest.MonkeyPatch, first_failure: Exception
) -> None:
    mc = load_mc()
    calls: list[str] = []

    def urlopen(request: Any, timeout: float) -> io.BytesIO:
        calls.append(request.get_method())
        if len(calls) == 1:
            raise first_failure
        return io.BytesIO(b"{}")

    monkeypatch.setattr(mc.urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(mc.time, "sleep", lambda _seconds: None)
    assert mc.request("PUT", "http://store:8888/etc/state.json", b"{}") == b"{}"
    assert calls == ["PUT", "PUT"]
