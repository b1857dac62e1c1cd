"""The UI's progress polling (GET /api/merges/<id>): one read, and still every guard."""

from __future__ import annotations

import time

import pytest

from b24app.devportal import SEED_GROUPS
from tests.helpers import Stack, wait_until

GROUPS = [list(g.ids) for g in SEED_GROUPS if g.entity_type_id == 3]


@pytest.fixture
def merged(installed: Stack) -> tuple[str, str]:
    token = installed.open(1).token
    assert token
    return token, installed.merge(token, GROUPS)["id"]


def test_a_poll_shows_every_group_in_the_order_asked(
    installed: Stack, merged: tuple[str, str]
) -> None:
    token, job_id = merged
    body = installed.api("GET", f"/merges/{job_id}", token).json()
    assert body["status"] == "done" and body["pending"] == []
    assert [r["entityIds"] for r in body["results"]] == GROUPS
    assert body["progress"] == {"done": len(GROUPS), "total": len(GROUPS)}


def test_a_poll_of_another_users_or_portals_merge_is_404(
    installed: Stack, merged: tuple[str, str]
) -> None:
    token, job_id = merged
    other_user = installed.open(2).token
    assert installed.api("GET", f"/merges/{job_id}", other_user).status_code == 404
    second = installed.emu.add_portal(lang="en", seed=False)
    assert installed.install(1, portal=second).status_code == 200
    # The same Bitrix24 user ID (1) on another portal sees nothing of the first.
    other_portal = installed.open(1, portal=second).token
    assert installed.api("GET", f"/merges/{job_id}", other_portal).status_code == 404
    scan = installed.api("POST", "/scans", token, {"entityTypeId": 3}).json()
    assert installed.api("GET", f"/merges/{scan['id']}", token).status_code == 404


def test_a_poll_after_the_portal_removed_the_app_is_401(
    installed: Stack, merged: tuple[str, str]
) -> None:
    token, job_id = merged
    installed.portal.uninstall(clean=False)
    member_id = installed.portal.member_id
    wait_until(lambda: installed.db.get_portal(member_id=member_id).state == "uninstalled")
    for path in (f"/merges/{job_id}", "/merges/nosuchjob"):
        response = installed.api("GET", path, token)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_polls_follow_a_running_merge_to_its_end(installed: Stack) -> None:
    installed.portal.delays["crm.entity.mergebatch"] = 0.25  # a slow portal: watch it happen
    token = installed.open(1).token
    assert token
    started = installed.api("POST", "/merges", token, {"entityTypeId": 3, "groups": GROUPS})
    assert started.status_code == 202
    job_id = started.json()["id"]
    seen: list[tuple[str, int, int]] = []
    while True:
        body = installed.api("GET", f"/merges/{job_id}", token).json()
        seen.append((body["status"], len(body["results"]), body["progress"]["done"]))
        assert len(body["results"]) + len(body["pending"]) == len(GROUPS)
        if body["status"] not in ("queued", "running"):
            break
        time.sleep(0.02)
    outcomes = [n for _, n, _ in seen]
    assert outcomes == sorted(outcomes)  # never a step back
    assert len(set(outcomes)) > 3  # the answers moved as the groups landed
    assert seen[-1] == ("done", len(GROUPS), len(GROUPS))
    # the last answer is the whole job as stored
    again = installed.api("GET", f"/merges/{job_id}", token).json()
    assert again == body and sorted(r["entityIds"] for r in again["results"]) == sorted(GROUPS)
