"""Fixtures: a started emulator and a small local receiver standing in for the app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from devportal_support import CLIENT_ID, CLIENT_SECRET
from werkzeug.wrappers import Request, Response

from b24app.devportal import DevPortal, Portal
from b24app.devportal.http import ServerThread


@dataclass
class Receiver:
    """Records every request the portal sends to the 'app'."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Record the request and answer 200."""
        request = Request(environ)
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "args": dict(request.args),
                "form": dict(request.form),
                "content_type": request.mimetype,
            }
        )
        return Response("OK")(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Start the stand-in app."""
    recv = Receiver()
    server = ServerThread("127.0.0.1", 0, recv.wsgi)
    recv.url = f"http://127.0.0.1:{server.port}"
    yield recv
    server.stop()


@pytest.fixture
def emu(receiver: Receiver) -> Iterator[DevPortal]:
    """Start a seeded emulator with the app registered at the receiver."""
    emulator = DevPortal(seed=True, limits=False)
    emulator.register_app(CLIENT_ID, CLIENT_SECRET, receiver.url)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def portal(emu: DevPortal) -> Portal:
    """Return the emulator's first portal."""
    return emu.portal
