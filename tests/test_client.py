"""The REST client against a scripted far side over HTTP (CASE-01, 16, 17, 18, 20, 21)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from b24app.bitrix.auth import StaticToken
from b24app.bitrix.client import RestClient
from b24app.bitrix.encoding import php_query
from b24app.bitrix.errors import (
    AuthFailed,
    MethodError,
    QueryLimitExceeded,
    TokenExpired,
    TransientError,
)

Reply = tuple[int, str, str]  # status, content type, body


class FarSide:
    """A scripted portal: each request gets the next reply; every request is recorded."""

    def __init__(self) -> None:
        self.replies: list[Reply | Callable[[dict[str, Any]], Reply]] = []
        self.requests: list[dict[str, Any]] = []
        far = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record = {
                    "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "raw": raw,
                    "body": json.loads(raw.decode("utf-8")),
                }
                far.requests.append(record)
                reply = far.replies.pop(0) if far.replies else (500, "text/plain", "no reply")
                status, ctype, body = reply(record) if callable(reply) else reply
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/rest/"

    def json(self, payload: Any, status: int = 200) -> None:
        self.replies.append((status, "application/json; charset=utf-8", json.dumps(payload)))


class Tokens:
    """A token source that hands out AT_1, then AT_2 after a refresh."""

    def __init__(self) -> None:
        self.current = "AT_1"
        self.refreshes = 0

    def access_token(self) -> str:
        return self.current

    def refresh(self, stale_token: str) -> str:
        self.refreshes += 1
        self.current = f"AT_{self.refreshes + 1}"
        return self.current


@pytest.fixture
def far() -> Iterator[FarSide]:
    side = FarSide()
    yield side
    side.server.shutdown()


def client_for(far: FarSide, tokens: Tokens | None = None) -> RestClient:
    return RestClient(requests.Session(), far.url, tokens or Tokens(), sleep=lambda _s: None)


EXPIRED = {"error": "expired_token", "error_description": "The access token provided has expired."}


def test_case01_expired_token_refreshes_once_and_retries(far: FarSide) -> None:
    tokens = Tokens()
    far.json(EXPIRED, 401)
    far.json({"result": {"ID": "1"}, "time": {}})
    assert client_for(far, tokens).call("user.current") == {"ID": "1"}
    assert tokens.refreshes == 1
    assert [r["body"]["auth"] for r in far.requests] == ["AT_1", "AT_2"]


def test_case01_invalid_token_is_handled_like_expired(far: FarSide) -> None:
    tokens = Tokens()
    far.json({"error": "invalid_token", "error_description": "Unable to get application"}, 401)
    far.json({"result": True})
    assert client_for(far, tokens).call("profile") is True
    assert tokens.refreshes == 1


def test_case01_second_expiry_stops_without_looping(far: FarSide) -> None:
    tokens = Tokens()
    far.json(EXPIRED, 401)
    far.json(EXPIRED, 401)
    far.json({"result": "should never be asked for"})
    with pytest.raises(AuthFailed):
        client_for(far, tokens).call("user.current")
    assert tokens.refreshes == 1
    assert len(far.requests) == 2


@pytest.mark.parametrize(
    ("status", "ctype", "body", "error"),
    [
        (
            400,
            "application/json",
            '{"error": "", "error_description": "Access denied."}',
            MethodError,
        ),
        (
            400,
            "application/json",
            '{"error": 0, "error_description": "Owner was not found"}',
            MethodError,
        ),
        (503, "application/json", '{"error": "QUERY_LIMIT_EXCEEDED"}', QueryLimitExceeded),
        (502, "text/html", "<html><body>Bad gateway</body></html>", TransientError),
        (200, "text/html", "<html>maintenance</html>", TransientError),
        (200, "application/json", "", TransientError),
    ],
)
def test_error_bodies_of_every_shape_become_typed_errors(
    far: FarSide, status: int, ctype: str, body: str, error: type[Exception]
) -> None:
    far.replies.extend([(status, ctype, body)] * 10)
    client = client_for(far)
    client.max_rate_retries = 1
    with pytest.raises(error):
        client.call("crm.contact.list", {}, idempotent=False)


def test_rate_limit_answer_is_retried_with_backoff(far: FarSide) -> None:
    far.json({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}, 503)
    far.json({"result": [1]})
    assert client_for(far).call("crm.contact.list") == [1]
    assert len(far.requests) == 2


@pytest.mark.parametrize(
    ("body", "expected_results", "expected_totals", "expected_nexts"),
    [
        (
            {
                "result": {
                    "result": {"q1": []},
                    "result_error": [],
                    "result_total": {"q1": 0},
                    "result_next": [],
                    "result_time": {},
                },
                "time": {},
            },
            {"q1": []},
            {"q1": 0},
            {},
        ),
        (
            {
                "result": {
                    "result": {
                        "statuses": [{"STATUS_ID": "NEW"}],
                        "sources": [{"STATUS_ID": "CALL"}],
                    },
                    "result_error": {},
                    "result_total": {},
                    "result_next": {},
                    "result_time": {},
                },
                "time": {},
            },
            {"statuses": [{"STATUS_ID": "NEW"}], "sources": [{"STATUS_ID": "CALL"}]},
            {},
            {},
        ),
        (
            {
                "result": {
                    "result": [{"ID": "1"}, {"ID": "2"}],
                    "result_error": [],
                    "result_total": [],
                    "result_next": [],
                    "result_time": [],
                },
                "time": {},
            },
            {"a": {"ID": "1"}, "b": {"ID": "2"}},
            {},
            {},
        ),
    ],
)
def test_case16_batch_sections_as_objects_or_empty_arrays(
    far: FarSide,
    body: dict[str, Any],
    expected_results: dict[str, Any],
    expected_totals: dict[str, int],
    expected_nexts: dict[str, int],
) -> None:
    far.json(body)
    keys = list(expected_results)
    outcome = client_for(far).batch({key: ("crm.status.list", {}) for key in keys})
    assert outcome.results == expected_results
    assert outcome.totals == expected_totals
    assert outcome.nexts == expected_nexts
    assert outcome.errors == {}


def test_case17_nested_params_are_encoded_php_style_in_utf8() -> None:
    query = php_query(
        {"fields": {"NAME": "Иван", "PHONE": [{"VALUE": "+70000000003", "VALUE_TYPE": "WORK"}]}}
    )
    assert query == (
        "fields%5BNAME%5D=%D0%98%D0%B2%D0%B0%D0%BD"
        "&fields%5BPHONE%5D%5B0%5D%5BVALUE%5D=%2B70000000003"
        "&fields%5BPHONE%5D%5B0%5D%5BVALUE_TYPE%5D=WORK"
    )
    rows = php_query(
        {
            "id": 281,
            "rows": [
                {"PRODUCT_NAME": "Товар", "PRICE": 5555, "QUANTITY": 2},
                {"PRODUCT_ID": 2809, "PRICE": 100, "QUANTITY": 2},
            ],
        }
    )
    decoded = [unquote(part) for part in rows.split("&")]
    assert "rows[0][PRODUCT_NAME]=Товар" in decoded
    assert "rows[1][PRODUCT_ID]=2809" in decoded


def test_case17_oversized_command_goes_as_a_direct_call(far: FarSide) -> None:
    far.json({"result": {"task": {"id": "1"}}})
    far.json(
        {
            "result": {
                "result": {"small": True},
                "result_error": [],
                "result_total": [],
                "result_next": [],
                "result_time": [],
            }
        }
    )
    big = "Ж" * 100_000
    outcome = client_for(far).batch_all(
        {"big": ("tasks.task.add", {"fields": {"DESCRIPTION": big}}), "small": ("user.current", {})}
    )
    assert outcome.results == {"small": True, "big": {"task": {"id": "1"}}}
    paths = [r["path"] for r in far.requests]
    assert paths == ["/rest/tasks.task.add.json", "/rest/batch.json"]
    assert far.requests[0]["body"]["fields"]["DESCRIPTION"] == big


def test_case21_more_than_50_commands_go_as_two_batches(far: FarSide) -> None:
    def answer(record: dict[str, Any]) -> tuple[int, str, str]:
        keys = list(record["body"]["cmd"])
        assert len(keys) <= 50
        result = {
            "result": {k: True for k in keys},
            "result_error": [],
            "result_total": [],
            "result_next": [],
            "result_time": [],
        }
        return 200, "application/json", json.dumps({"result": result})

    far.replies.extend([answer, answer])
    commands = {
        f"u{i}": ("crm.contact.update", {"id": i, "fields": {"POST": "x"}}) for i in range(51)
    }
    outcome = client_for(far).batch_all(commands)
    assert len(outcome.results) == 51
    assert [len(r["body"]["cmd"]) for r in far.requests] == [50, 1]


def test_case18_bodies_are_utf8_json_and_errors_stay_legible(far: FarSide) -> None:
    far.json({"error": "ERROR_CORE", "error_description": "Поле обязательно"}, 400)
    title = "Заявка с сайта — №5 Ёжик «кавычки» 🙂"
    with pytest.raises(MethodError) as caught:
        client_for(far).call("crm.lead.add", {"fields": {"TITLE": title}}, idempotent=False)
    assert caught.value.description == "Поле обязательно"
    sent = far.requests[0]
    assert sent["content_type"] == "application/json; charset=utf-8"
    assert title.encode("utf-8") in sent["raw"]


def _page(start: int, count: int) -> list[dict[str, str]]:
    return [{"ID": str(i)} for i in range(start, start + count)]


def _batch_of_pages(pages: list[list[dict[str, str]]]) -> str:
    result = {f"p{n}": page for n, page in enumerate(pages)}
    return json.dumps(
        {
            "result": {
                "result": result,
                "result_error": [],
                "result_total": [],
                "result_next": [],
                "result_time": [],
            }
        }
    )


def test_case20_a_pager_that_ignores_the_cursor_is_an_error_not_a_loop(far: FarSide) -> None:
    # The far side ignores the >ID filter and answers the first 50 records every time.
    far.replies.append((200, "application/json", _batch_of_pages([_page(1, 50), _page(1, 50)])))
    seen: list[str] = []
    with pytest.raises(MethodError) as caught:
        for page in client_for(far).iter_keyset("crm.contact.list", select=["ID"]):
            seen.extend(row["ID"] for row in page)
    assert caught.value.code == "PAGING_STALLED"
    assert len(seen) == 50 and len(set(seen)) == 50
    assert len(far.requests) == 1


def test_case21_short_page_before_the_expected_total_does_not_end_the_read(far: FarSide) -> None:
    # The portal clamps a page below 50; the cursor, not the page length, decides.
    far.replies.append((200, "application/json", _batch_of_pages([_page(1, 30)])))
    far.replies.append((200, "application/json", _batch_of_pages([_page(31, 30)])))
    far.replies.append((200, "application/json", _batch_of_pages([[]])))
    ids: list[int] = []
    for page in client_for(far).iter_keyset("crm.contact.list", select=["ID"], expected_total=60):
        ids.extend(int(row["ID"]) for row in page)
    assert ids == list(range(1, 61))
    cmd = far.requests[1]["body"]["cmd"]["p0"]
    assert "filter%5B%3EID%5D=30" in cmd and "start=-1" in cmd


def test_keyset_chains_pages_inside_one_batch(far: FarSide) -> None:
    far.replies.append(
        (200, "application/json", _batch_of_pages([_page(1, 50), _page(51, 50), _page(101, 7)]))
    )
    ids = [
        row["ID"]
        for page in client_for(far).iter_keyset("crm.contact.list", select=["ID"])
        for row in page
    ]
    assert len(ids) == 107 and len(far.requests) == 1
    cmd = far.requests[0]["body"]["cmd"]
    assert len(cmd) == 50
    assert "filter%5B%3EID%5D=$result[p0][49][ID]" in cmd["p1"]
    assert far.requests[0]["body"]["halt"] == 1


def test_token_expired_is_raised_to_the_refresher_only(far: FarSide) -> None:
    """An expiry goes to the token source; a caller only ever sees AuthFailed."""
    far.json(EXPIRED, 401)
    client = RestClient(requests.Session(), far.url, StaticToken("AT_X"), sleep=lambda _s: None)
    with pytest.raises(AuthFailed) as failure:
        client.call("profile")
    assert not isinstance(failure.value, TokenExpired)
    assert len(far.requests) == 1  # a token that can't be refreshed is not sent again


def test_mixed_batch_keeps_results_errors_and_the_commands_halt_skipped(far: FarSide) -> None:
    far.json(
        {
            "result": {
                "result": {"a": {"ID": "1"}},
                "result_error": {"b": {"error": "", "error_description": "Not found"}},
                "result_total": [],
                "result_next": [],
                "result_time": {"a": {"processing": 0.05, "operating": 0.05}},
            },
            "time": {},
        }
    )
    outcome = client_for(far).batch(
        {k: ("crm.contact.get", {"id": n}) for n, k in enumerate("abc", 1)}, halt=True
    )
    assert outcome.results == {"a": {"ID": "1"}}
    assert outcome.errors == {"b": {"error": "", "error_description": "Not found"}}
    assert outcome.skipped == ["c"]
    assert far.requests[0]["body"]["halt"] == 1


@pytest.mark.parametrize(
    "body", ["<html><body>429 Too Many</body></html>", "", '{"error": "OPERATION_TIME_LIMIT"}']
)
def test_case19_a_429_of_any_body_is_an_operation_time_limit(far: FarSide, body: str) -> None:
    from b24app.bitrix.errors import OperationTimeLimit

    far.replies.append((429, "text/html", body))
    with pytest.raises(OperationTimeLimit):
        client_for(far).call("crm.contact.update", {"id": 1}, idempotent=False)
    assert len(far.requests) == 1
