"""/healthz: the database always, Redis when REDIS_URL is configured; 503 names what is down."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.helpers import Stack, app_log, build_stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[str]:
    """A real Redis on a free loopback port (Debian's redis-server), stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _health(stack: Stack) -> requests.Response:
    return requests.get(f"{stack.url}/healthz", timeout=30)


def test_a_database_that_does_not_answer_is_a_503(installed: Stack) -> None:
    assert _health(installed).json() == {"status": "ok", "database": "ok"}
    # The configured server goes away: nothing listens on that port any more.
    gone = sa.create_engine(f"postgresql+psycopg://app@127.0.0.1:{_free_port()}/app")
    installed.db.engine = installed.db.reader = gone
    answer = _health(installed)
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "database": "down"}


def test_a_missing_schema_is_not_healthy(installed: Stack) -> None:
    with installed.db.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE b24_portals RENAME TO b24_portals_elsewhere")
    answer = _health(installed)
    assert answer.status_code == 503 and answer.json()["database"] == "down"


def test_redis_is_checked_only_when_configured_and_its_password_never_shows(
    tmp_path: Path,
) -> None:
    url = f"redis://:hunter2-redis-pw@127.0.0.1:{_free_port()}/0"  # nothing listens there
    stack = build_stack(tmp_path, redis_url=url)
    try:
        with app_log("json") as written:
            answer = _health(stack)
        assert answer.status_code == 503
        assert answer.json() == {"status": "unavailable", "database": "ok", "redis": "down"}
        assert "hunter2" not in answer.text and "hunter2" not in written.getvalue()
        assert "Redis does not answer" in written.getvalue()
    finally:
        stack.close()


def test_a_redis_that_answers_is_healthy(tmp_path: Path, redis_server: str) -> None:
    stack = build_stack(tmp_path, redis_url=redis_server)
    try:
        answer = _health(stack)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    finally:
        stack.close()
