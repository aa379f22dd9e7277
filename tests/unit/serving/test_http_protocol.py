"""The serving protocol writes a response's head and body in one transport write, and nothing
else changes: the same bytes in the same order, HEAD and connection close included."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from model_serving.__main__ import HTTP_PROTOCOL
from model_serving.http_protocol import HeadWithBodyProtocol


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    if scope["path"] == "/fail-after-head":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")
    body = b'{"label":"ai"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"14")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def exchange(protocol_class: type[HttpToolsProtocol], request: bytes) -> RecordingTransport:
    config = Config(app=answer, http=protocol_class, date_header=False, log_config=None)
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(50):
        await asyncio.sleep(0)
    for task in list(protocol.tasks):
        await task
    protocol.connection_lost(None)
    return transport


REQUESTS = [
    b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    b"HEAD /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET /fail-after-head HTTP/1.1\r\nHost: x\r\n\r\n",
]


@pytest.mark.parametrize("request_bytes", REQUESTS)
def test_the_same_bytes_as_uvicorn_in_one_write(request_bytes: bytes) -> None:
    ours = asyncio.run(exchange(HeadWithBodyProtocol, request_bytes))
    uvicorns = asyncio.run(exchange(HttpToolsProtocol, request_bytes))
    assert b"".join(ours.writes) == b"".join(uvicorns.writes)
    assert ours.closed == uvicorns.closed
    assert len(ours.writes) == 1
    if b"fail-after-head" not in request_bytes and not request_bytes.startswith(b"HEAD"):
        assert len(uvicorns.writes) == 2  # what the protocol saves: one write per response


def test_serving_runs_it() -> None:
    module, name = HTTP_PROTOCOL.split(":")
    assert getattr(__import__(module, fromlist=[name]), name) is HeadWithBodyProtocol
