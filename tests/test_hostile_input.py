"""Malformed and hostile form data at /install, /app and /events: no 5xx, no state change,
no call to a host the request named (property-based)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import Stack, build_stack
from tests.test_frames import Recorder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trap_host = f"127.0.0.1:{server.server_port}"
    stack = build_stack(Path(tmp_path_factory.mktemp("hostile")), run_worker=False)
    stack.install(1)
    stack.open(2)
    yield stack, trap_host
    stack.close()
    server.shutdown()


def _snapshot(stack: Stack) -> list[tuple]:
    with stack.db.reader.connect() as conn:
        rows = []
        for table in ("b24_portals", "b24_tokens", "b24_jobs", "b24_oauth_states", "b24_alarms"):
            rows.extend(conn.exec_driver_sql(f"SELECT * FROM {table}").all())
    return rows


FIELDS = [
    "DOMAIN",
    "PROTOCOL",
    "LANG",
    "APP_SID",
    "AUTH_ID",
    "AUTH_EXPIRES",
    "REFRESH_ID",
    "SERVER_ENDPOINT",
    "APPLICATION_TOKEN",
    "member_id",
    "PLACEMENT",
    "PLACEMENT_OPTIONS",
    "event",
    "ts",
    "auth[access_token]",
    "auth[refresh_token]",
    "auth[domain]",
    "auth[member_id]",
    "auth[application_token]",
    "auth[server_endpoint]",
    "auth[client_endpoint]",
    "auth[expires_in]",
    "data[CLEAN]",
    "data[VERSION]",
    "auth[x][y][z][a][b][c][d]",
    "auth[]",
    "[",
]


def _hostile_values(trap: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=60),
        st.sampled_from(
            [
                trap,
                f"http://{trap}/rest/",
                f"https://{trap}",
                f"{trap}/rest/",
                "ONAPPINSTALL",
                "ONAPPUNINSTALL",
                "ONAPPUPDATE",
                "1",
                "0",
                "-1",
                "99999999999999999999",
                "{}",
                '{"ID": "1"}',
                "null",
                "[]",
                "\x00",
                "é" * 300,
                "<script>alert(1)</script>",
                "../../etc/passwd",
                "a" * 5000,
            ]
        ),
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_forms_change_nothing_and_call_no_named_host(
    hostile: tuple[Stack, str], data: st.DataObject
) -> None:
    stack, trap = hostile
    client = stack.app.test_client()
    before = _snapshot(stack)
    Recorder.hits = []
    form = data.draw(
        st.dictionaries(st.sampled_from(FIELDS), _hostile_values(trap), max_size=12),
        label="form",
    )
    query = data.draw(
        st.dictionaries(
            st.sampled_from(["DOMAIN", "PROTOCOL", "LANG", "APP_SID"]),
            _hostile_values(trap),
            max_size=4,
        ),
        label="query",
    )
    for path in ("/install", "/app", "/events"):
        response = client.post(path, query_string=query, data=form)
        assert response.status_code < 500 or response.status_code == 503, (path, response)
        assert "Traceback" not in response.get_data(as_text=True)
    assert Recorder.hits == []
    assert _snapshot(stack) == before
