"""uvicorn's httptools protocol, writing a response's head and its first body chunk together.

uvicorn writes the status line and headers as soon as the application sends
``http.response.start``, and the body on ``http.response.body``: two transport writes, so two
``send`` system calls and (with ``TCP_NODELAY``) two TCP segments for every small JSON answer,
each to be read by the client. ``HeadWithBodyProtocol`` holds the head until the first body
message has been handled by uvicorn and writes both at once. Everything else -- parsing,
validation of the headers, keep-alive, flow control, what is written -- is uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn._types import ASGI3Application, ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class HeldHead:
    """The cycle's view of the transport: between ``hold`` and ``release`` writes are kept and
    then written as one; closing releases first, so nothing held is lost or reordered."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: list[bytes] | None = None

    def hold(self) -> None:
        self._held = []

    def release(self) -> None:
        held, self._held = self._held, None
        if held:
            self._transport.write(b"".join(held))

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._transport.write(data)
        else:
            self._held.append(data)

    def close(self) -> None:
        self.release()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeadWithBodyProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose request cycles write head and first body chunk together."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        held = HeldHead(cycle.transport)
        cycle.transport = held  # type: ignore[assignment]  # duck-typed: write/close/is_closing
        send = cycle.send

        async def send_head_with_body(message: ASGISendEvent) -> None:
            starts = message["type"] == "http.response.start"
            if starts:
                held.hold()
            try:
                await send(message)
            except BaseException:
                held.release()
                raise
            if not starts:
                held.release()

        setattr(cycle, "send", send_head_with_body)  # noqa: B010 (shadows the bound method)
        super()._start_asgi_task(cycle, app)
