"""The JSON API's guards: sessions, validation, ownership (bad input changes nothing)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from b24app.security import Session, SessionSigner
from tests.helpers import Stack, build_stack


@pytest.fixture
def token(installed: Stack) -> str:
    opened = installed.open(1)
    assert opened.token
    return opened.token


def _job_rows(stack: Stack) -> int:
    with stack.db.reader.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM b24_jobs").scalar())


def _mergebatch_calls(stack: Stack) -> int:
    return len([c for c in stack.portal.calls if c["method"].lower() == "crm.entity.mergebatch"])


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic abc", "Bearer a.b.c"])
def test_without_a_valid_session_the_api_answers_exactly_401(
    installed: Stack, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.post(
        f"{installed.url}/api/scans", json={"entityTypeId": 3}, headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_expired_session_is_401(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, session_ttl=1)
    try:
        stack.install(1)
        token = stack.open(1).token
        assert stack.api("GET", "/settings", token).status_code == 200
        time.sleep(2.1)
        assert stack.api("GET", "/settings", token).status_code == 401
    finally:
        stack.close()


def test_session_signed_with_another_key_is_401(installed: Stack) -> None:
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    forged = SessionSigner("another-key", 3600).issue(Session(portal.id, portal.member_id, 1, "en"))
    assert installed.api("GET", "/settings", forged).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"entityTypeId": 9}, 422, "invalid_entity_type"),
        ({"entityTypeId": "3"}, 422, "invalid_entity_type"),
        ({"entityTypeId": True}, 422, "invalid_entity_type"),
        ({}, 422, "invalid_entity_type"),
        ({"entityTypeId": 3, "seedId": -5}, 422, "invalid_seed_id"),
        ({"entityTypeId": 3, "seedId": "12"}, 422, "invalid_seed_id"),
    ],
)
def test_bad_scan_requests(
    installed: Stack, token: str, body: dict[str, Any], status: int, code: str
) -> None:
    response = installed.api("POST", "/scans", token, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert _job_rows(installed) == 0


def test_scan_body_that_is_not_json(installed: Stack, token: str) -> None:
    response = requests.post(
        f"{installed.url}/api/scans",
        data="{not json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("groups", "status", "code"),
    [
        ([[5]], 422, "invalid_group"),
        ([[5, 5]], 422, "duplicate_id"),
        ([[5, 6], [6, 7]], 422, "groups_overlap"),
        ([[5, -6]], 422, "invalid_id"),
        ([[5, 0]], 422, "invalid_id"),
        ([[5, "6"]], 422, "invalid_id"),
        ([[5, 6.5]], 422, "invalid_id"),
        ([[5, True]], 422, "invalid_id"),
        ([], 422, "invalid_groups"),
        ("5,6", 422, "invalid_groups"),
        ([[i, i + 100000] for i in range(1, 2001)], 413, "too_many_groups"),
        ([list(range(1, 60))], 422, "group_too_large"),
    ],
)
def test_bad_merge_requests_are_refused_whole(
    installed: Stack, token: str, groups: Any, status: int, code: str
) -> None:
    response = installed.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert _mergebatch_calls(installed) == 0
    assert _job_rows(installed) == 0


def test_one_bad_group_rejects_the_whole_request(installed: Stack, token: str) -> None:
    response = installed.api("POST", "/merges", token, {"entityTypeId": 3, "groups": [[1, 2], [3]]})
    assert response.status_code == 422
    assert _mergebatch_calls(installed) == 0
    assert _job_rows(installed) == 0


def test_huge_body_is_413_json(installed: Stack, token: str) -> None:
    groups = [[i, i + 1] for i in range(1, 400000, 2)]
    response = installed.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups})
    assert response.status_code == 413
    assert "error" in response.json()
    assert _job_rows(installed) == 0


def test_ids_held_by_an_active_merge_are_409(installed: Stack, token: str) -> None:
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    # A merge job queued by another process (no worker picks it up in this instant).
    installed.db.create_merge_job(
        portal_id=portal.id, user_id=1, entity_type_id=3, groups=[[900001, 900002]]
    )
    response = installed.api(
        "POST", "/merges", token, {"entityTypeId": 3, "groups": [[900002, 900003]]}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "records_busy"
    assert _job_rows(installed) == 1  # only the job that holds the records


def test_jobs_of_another_user_or_portal_are_404(installed: Stack, token: str) -> None:
    scan = installed.api("POST", "/scans", token, {"entityTypeId": 3}).json()
    other = installed.open(2).token
    assert installed.api("GET", f"/scans/{scan['id']}", other).status_code == 404
    assert installed.api("POST", f"/scans/{scan['id']}/cancel", other).status_code == 404
    assert installed.api("GET", f"/merges/{scan['id']}", token).status_code == 404
    assert installed.api("GET", "/scans/not-a-job-id", token).status_code == 404
    assert installed.api("GET", f"/scans/{scan['id']}?limit=0", token).status_code == 422
    assert installed.api("GET", f"/scans/{scan['id']}?offset=-1", token).status_code == 422


def test_second_portal_cannot_see_the_first(installed: Stack, token: str) -> None:
    second = installed.emu.add_portal(lang="de", seed=False)
    assert installed.install(1, portal=second).status_code == 200
    other = installed.open(1, portal=second).token
    scan = installed.api("POST", "/scans", token, {"entityTypeId": 3}).json()
    assert installed.api("GET", f"/scans/{scan['id']}", other).status_code == 404
    portal_b = installed.db.get_portal(member_id=second.member_id)
    assert portal_b.phone_region == "DE"


def test_settings_need_a_portal_admin(installed: Stack, token: str) -> None:
    settings = installed.api("GET", "/settings", token).json()
    assert settings["phoneCountry"] == "RU"
    assert {"RU", "DE", "US"} <= set(settings["phoneCountries"])
    manager = installed.open(2).token
    refused = installed.api("PUT", "/settings", manager, {"phoneCountry": "DE"})
    assert refused.status_code == 403
    assert installed.api("PUT", "/settings", token, {"phoneCountry": "XX"}).status_code == 422
    changed = installed.api("PUT", "/settings", token, {"phoneCountry": "de"})
    assert changed.json() == {"phoneCountry": "DE"}
    assert installed.api("GET", "/settings", manager).json()["phoneCountry"] == "DE"


def test_absurd_inputs_are_4xx_not_5xx(installed: Stack, token: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/scans", "/merges"):
        response = requests.post(
            f"{installed.url}/api{path}",
            data=deep,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 400, path
    scan = installed.api("POST", "/scans", token, {"entityTypeId": 3}).json()
    huge = installed.api("GET", f"/scans/{scan['id']}?offset=99999999999999999999999", token)
    assert huge.status_code == 422
    for seed in (2**31, 10**30):
        big = installed.api("POST", "/scans", token, {"entityTypeId": 3, "seedId": seed})
        assert big.status_code == 422
    assert installed.api("GET", "/scans", token).status_code == 405
    assert installed.api("GET", "/scans", token).json()["error"]["code"] == "method_not_allowed"


def test_every_route_keeps_two_portals_apart_for_the_same_user_id(
    installed: Stack, token: str
) -> None:
    """User 1 of portal A and user 1 of portal B: nothing of A is seen or touched from B."""
    stack = installed
    a = stack.portal
    b = stack.emu.add_portal(lang="de", seed=True)
    assert 'data-state="ok"' in stack.install(1, portal=b).text
    other = stack.open(1, portal=b).token
    assert other
    portal_a = stack.db.get_portal(member_id=a.member_id)
    pair_a = stack.db.get_token(portal_a.id, 1)
    scan = stack.scan(token, 3)
    groups = [g["entityIds"] for g in scan["groups"]]
    merge = stack.merge(token, groups[:1])
    assert merge["status"] == "done" and len(merge["results"]) == 1
    mark = {"entityTypeId": 3, "entityIds": groups[1]}
    assert stack.api("POST", "/not-duplicates", token, mark).status_code == 201
    a_calls, b_calls = len(a.calls), len(b.calls)

    # A's jobs are unknown to B, whatever B asks of them
    for method, path in (
        ("GET", f"/scans/{scan['id']}"),
        ("GET", f"/scans/{scan['id']}?offset=0&limit=5"),
        ("POST", f"/scans/{scan['id']}/cancel"),
        ("GET", f"/merges/{merge['id']}"),
        ("POST", f"/merges/{merge['id']}/cancel"),
    ):
        answer = stack.api(method, path, other)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"
    assert stack.api("GET", "/jobs", other).json()["jobs"] == []
    assert stack.api("GET", "/history", other).json()["total"] == 0
    csv = stack.api("GET", "/history?format=csv", other).text
    assert csv.count("\n") <= 1  # the header row only
    assert str(groups[0][0]) not in csv.split("\n", 1)[-1]
    # A's mark is not B's to remove; B's own mark does not hide A's groups
    assert stack.api("DELETE", "/not-duplicates", other, mark).status_code == 404
    b_mark = {"entityTypeId": 3, "entityIds": groups[2]}
    assert stack.api("POST", "/not-duplicates", other, b_mark).status_code == 201
    # B's settings are B's
    assert stack.api("PUT", "/settings", other, {"phoneCountry": "AT"}).status_code == 200
    assert stack.api("GET", "/settings", token).json()["phoneCountry"] == "RU"
    # records, scans and merges from B read and change B's portal only
    ids = ",".join(str(i) for i in groups[2])
    assert stack.api("GET", f"/records?entityTypeId=3&ids={ids}", other).status_code == 200
    assert stack.scan(other, 3)["status"] == "done"
    b_merge = stack.merge(other, [groups[0]])
    assert b_merge["status"] == "done"
    assert len(a.calls) == a_calls  # portal A was asked nothing
    assert len(b.calls) > b_calls
    authorize = stack.api("POST", "/reauthorize", other).json()["authorizeUrl"]
    assert authorize.startswith(f"{b.url}/oauth/authorize/")
    # and A is as A left it
    assert stack.db.get_token(portal_a.id, 1) == pair_a
    assert [j["id"] for j in stack.api("GET", "/jobs", token).json()["jobs"]] == [
        merge["id"],
        scan["id"],
    ]
    history = stack.api("GET", "/history", token).json()
    assert history["total"] == 1 and history["items"][0]["entityIds"] == groups[0]
    again = stack.scan(token, 3)
    assert groups[1] not in [g["entityIds"] for g in again["groups"]]  # A's mark holds
    assert groups[2] in [g["entityIds"] for g in again["groups"]]  # B's does not apply
