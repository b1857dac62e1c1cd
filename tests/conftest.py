"""Shared fixtures."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import databases
from tests.helpers import Stack, build_stack


def pytest_report_header() -> str:
    """Say which database this run uses."""
    return databases.describe()


def pytest_sessionfinish() -> None:
    """On PostgreSQL, wait for the last schemas to be dropped."""
    if databases.ON_POSTGRES:
        databases.finish_drops()


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """On PostgreSQL, drop the schemas a test created (and end its leftover connections)."""
    yield
    if databases.ON_POSTGRES:
        databases.drop_created()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The emulator (seeded, limits off) and the app, not yet installed."""
    running = build_stack(tmp_path)
    yield running
    running.close()


@pytest.fixture
def installed(stack: Stack) -> Stack:
    """The same, with the app installed by the portal's admin through the wizard."""
    response = stack.install(1)
    assert response.status_code == 200, response.text
    return stack


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: B24_TEST_REDIS_URL when set (CI), else a redis-server started here."""
    configured = os.environ.get("B24_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis: install redis-server or set B24_TEST_REDIS_URL")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)
