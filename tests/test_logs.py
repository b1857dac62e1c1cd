"""Structured logs: one line a record, request and job IDs, the format setting, masking."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from b24app import logs
from b24app.config import ConfigError, load_settings
from tests.helpers import Stack, app_log

REQUIRED = {
    "B24_CLIENT_ID": "local.x.y",
    "B24_CLIENT_SECRET": "s",
    "B24_APP_URL": "https://app.example.com",
    "SECRET_KEY": "k",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "json"),
        ({"B24_ALLOW_INSECURE": "1"}, "text"),
        ({"FLASK_DEBUG": "1"}, "text"),
        ({"B24_ALLOW_INSECURE": "1", "B24_LOG_FORMAT": "json"}, "json"),
        ({"B24_LOG_FORMAT": "TEXT"}, "text"),
    ],
)
def test_json_unless_developing(env: dict[str, str], expected: str) -> None:
    assert load_settings({**REQUIRED, **env}).log_format == expected


def test_an_unknown_log_format_stops_the_start() -> None:
    with pytest.raises(ConfigError, match="B24_LOG_FORMAT"):
        load_settings({**REQUIRED, "B24_LOG_FORMAT": "xml"})


def test_each_request_is_named_in_its_answer_and_its_lines(installed: Stack) -> None:
    with app_log("json") as written:
        first = requests.get(f"{installed.url}/healthz", timeout=10)
        given = requests.get(
            f"{installed.url}/healthz", headers={"X-Request-ID": "lb-1234-abcd"}, timeout=10
        )
        forged = requests.get(
            f"{installed.url}/healthz?code=SECRETCODE",
            headers={"X-Request-ID": "x" * 65},
            timeout=10,
        )
    assert len(first.headers["X-Request-ID"]) == 32
    assert given.headers["X-Request-ID"] == "lb-1234-abcd"  # the load balancer's own ID
    assert forged.headers["X-Request-ID"] != "x" * 65
    entries = [json.loads(line) for line in written.getvalue().splitlines()]
    access = [e for e in entries if e["logger"] == "b24app.access"]
    assert [e["request_id"] for e in access] == [
        first.headers["X-Request-ID"],
        "lb-1234-abcd",
        forged.headers["X-Request-ID"],
    ]
    assert {(e["method"], e["path"], e["status"]) for e in access} == {("GET", "/healthz", 200)}
    assert "SECRETCODE" not in written.getvalue()


def test_a_jobs_lines_name_it_even_from_its_merge_threads(installed: Stack) -> None:
    token = installed.open(1).token
    assert token
    with app_log("json") as written:
        job = installed.merge(token, [[5, 6], [7, 8, 9]])
        logging.getLogger("b24app.test").info("outside any job")
    entries = [json.loads(line) for line in written.getvalue().splitlines()]
    named = [e for e in entries if e.get("job_id") == job["id"]]
    assert any("started" in e["message"] for e in named)
    assert any("ended" in e["message"] for e in named)
    outside = [e for e in entries if e["message"] == "outside any job"]
    assert outside and "job_id" not in outside[0] and "request_id" not in outside[0]


def test_merge_threads_inherit_the_job_id() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with logs.job_context("job-42"), ThreadPoolExecutor(2) as pool:
        seen = [pool.submit(logs.carrying_context(logs.job_id.get)) for _ in range(4)]
        bare = pool.submit(logs.job_id.get)
    assert [future.result() for future in seen] == ["job-42"] * 4
    assert bare.result() is None
    assert logs.job_id.get() is None


def test_an_exception_stays_on_one_json_line() -> None:
    formatter = logs.JsonFormatter()
    try:
        raise RuntimeError("failed calling https://p.example/rest/?auth=AT_SECRET_1")
    except RuntimeError:
        record = logging.LogRecord("b24app.x", logging.ERROR, __file__, 1, "boom", (), None)
        import sys

        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert "Traceback" in entry["exception"] and "RuntimeError" in entry["exception"]


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("GET /oauth/callback?code=CODE1&state=STATE1&domain=a.b", ["CODE1", "STATE1"]),
        ("auth%5Baccess_token%5D=AT1&x=1", ["AT1"]),
        ("auth[refresh_token]=RT1 and AUTH_ID=AT2 REFRESH_ID=RT2", ["RT1", "AT2", "RT2"]),
        ('{"access_token": "AT3", "refresh_token": "RT3"}', ["AT3", "RT3"]),
        ("client_secret=CS1&application_token=APP1", ["CS1", "APP1"]),
        ("Authorization: Bearer abcdefghijkl", ["abcdefghijkl"]),
        ("redis://:PW1@cache:6379/0 postgresql://app:PW2@db/app", ["PW1", "PW2"]),
    ],
)
def test_token_like_values_are_masked(text: str, hidden: list[str]) -> None:
    masked = logs.redact(text)
    assert [h for h in hidden if h in masked] == []
    assert "[redacted]" in masked


def test_words_that_merely_look_alike_are_kept() -> None:
    kept = "error code=QUERY_LIMIT_EXCEEDED on http://127.0.0.1:8000/rest/"
    assert logs.redact(kept) == kept
