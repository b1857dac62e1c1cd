"""Finding and merging duplicates end to end against the emulator over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from b24app.bitrix.errors import BitrixError
from b24app.devportal import SEED_COUNTS, SEED_GROUPS, SEED_IGNORED, SEED_SHARED
from b24app.jobs.scan import found_ids
from tests.helpers import Stack

CONTACT_GROUPS = [g for g in SEED_GROUPS if g.entity_type_id == 3]


@pytest.fixture
def admin(installed: Stack) -> str:
    token = installed.open(1).token
    assert token
    return token


def _merge_calls(stack: Stack) -> list[dict[str, Any]]:
    return [c for c in stack.portal.calls if c["method"].lower() == "crm.entity.mergebatch"]


def test_scan_finds_exactly_the_seeded_contact_groups(installed: Stack, admin: str) -> None:
    scan = installed.scan(admin, 3)
    assert scan["status"] == "done", scan
    found = [(tuple(g["entityIds"]), tuple(sorted(g["matchedOn"]))) for g in scan["groups"]]
    expected = [(g.ids, tuple(sorted(g.matched_on))) for g in CONTACT_GROUPS]
    assert sorted(found) == sorted(expected)
    assert scan["groupsTotal"] == len(CONTACT_GROUPS)
    assert scan["progress"] == {"done": SEED_COUNTS[3], "total": SEED_COUNTS[3]}
    # Pairs that share a value but are different people are listed apart, never grouped.
    shared = {tuple(s["entityIds"]) for s in scan["shared"]}
    assert {(16, 17), (20, 21)} <= shared
    grouped = {i for g in scan["groups"] for i in g["entityIds"]}
    for pair in (p for p in SEED_SHARED if p.entity_type_id == 3):
        assert not set(pair.ids) <= grouped or not any(
            set(pair.ids) <= set(g["entityIds"]) for g in scan["groups"]
        )
    first = next(g for g in scan["groups"] if g["entityIds"][0] == 1)
    assert [r["id"] for r in first["records"]] == [1, 2, 3, 4]
    assert all(isinstance(i, int) for g in scan["groups"] for i in g["entityIds"])


def test_scan_reads_with_keyset_paging_inside_batch(installed: Stack, admin: str) -> None:
    before = len(installed.portal.calls)  # the install's own batches came before
    installed.scan(admin, 3)
    calls = installed.portal.calls[before:]
    lists = [c for c in calls if c["method"] == "crm.contact.list"]
    keyset = [c for c in lists if c["via_batch"]]
    assert keyset and all(str(c["params"].get("start")) == "-1" for c in keyset)
    outer = [c for c in calls if c["method"] == "batch"]
    # 70 contacts: one count request plus one batch.
    assert len(outer) == 1
    assert len([c for c in lists if not c["via_batch"]]) == 1


def test_scan_pages_its_groups(installed: Stack, admin: str) -> None:
    scan = installed.scan(admin, 3)
    page = installed.api("GET", f"/scans/{scan['id']}?offset=2&limit=3", admin).json()
    assert page["groupsTotal"] == len(CONTACT_GROUPS)
    assert [g["entityIds"] for g in page["groups"]] == [g["entityIds"] for g in scan["groups"][2:5]]


def test_scan_of_one_record_returns_its_group_only(installed: Stack) -> None:
    opened = installed.open(2, "CRM_CONTACT_LIST_MENU", {"ID": "8"})
    assert opened.token
    scan = installed.scan(opened.token, 3, seedId=8)
    assert [g["entityIds"] for g in scan["groups"]] == [[7, 8, 9]]
    assert scan["seedId"] == 8


def test_merge_follows_the_order_given_and_reports_each_outcome(
    installed: Stack, admin: str
) -> None:
    scan = installed.scan(admin, 3)
    groups = [g["entityIds"] for g in scan["groups"]]
    merge = installed.merge(admin, groups)
    assert merge["status"] == "done"
    outcome = {tuple(r["entityIds"]): r for r in merge["results"]}
    for seeded in CONTACT_GROUPS:
        result = outcome[seeded.ids]
        assert result["status"] == seeded.merge_status, seeded.name
        if seeded.merge_status == "SUCCESS":
            assert result["keptId"] == seeded.ids[0]
            assert sorted(result["mergedIds"]) == sorted(seeded.ids[1:])
            assert result["manualMergeUrl"] is None
        else:
            ids = ",".join(str(i) for i in seeded.ids)
            assert result["manualMergeUrl"] == f"{installed.portal.url}/crm/contact/merge/?id={ids}"
    calls = _merge_calls(installed)
    assert len(calls) == len(groups)  # one mergeBatch per group, never twice
    # Groups run several at a time, so calls may interleave; each keeps the order given.
    assert sorted(c["params"]["params"]["entityIds"] for c in calls) == sorted(groups)
    assert {c["user_id"] for c in calls} == {1}
    contacts = installed.portal.records(3)
    for seeded in CONTACT_GROUPS:
        if seeded.merge_status == "SUCCESS":
            assert seeded.ids[0] in contacts
            assert not set(seeded.ids[1:]) & set(contacts)
        else:
            assert set(seeded.ids) <= set(contacts)


def test_a_user_who_may_not_delete_gets_error_and_nothing_changes(installed: Stack) -> None:
    token = installed.open(3).token
    assert token
    merge = installed.merge(token, [[5, 6]])
    result = merge["results"][0]
    assert result["status"] == "ERROR"
    assert result["error"]["message"]
    assert {5, 6} <= set(installed.portal.records(3))
    assert _merge_calls(installed)[0]["user_id"] == 3


def test_merge_with_survivor_chosen_by_the_user(installed: Stack, admin: str) -> None:
    merge = installed.merge(admin, [[6, 5]])
    assert merge["results"][0]["status"] == "SUCCESS"
    assert merge["results"][0]["keptId"] == 6
    assert 6 in installed.portal.records(3) and 5 not in installed.portal.records(3)


def test_case01_jobs_outlive_an_expired_access_token(installed: Stack) -> None:
    token = installed.open(2).token
    assert token
    installed.emu.expire_access_tokens(installed.portal, 2)
    before = [e for e in installed.emu.oauth_log if e["grant_type"] == "refresh_token"]
    scan = installed.scan(token, 3)
    assert scan["status"] == "done"
    refreshes = [e for e in installed.emu.oauth_log if e["grant_type"] == "refresh_token"]
    assert len(refreshes) - len(before) == 1
    assert refreshes[-1]["ok"] is True
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    pair = installed.db.get_token(portal.id, 2)
    assert pair.version >= 2
    # The new pair works for the next job without another refresh.
    installed.scan(token, 3)
    after = [e for e in installed.emu.oauth_log if e["grant_type"] == "refresh_token"]
    assert len(after) == len(refreshes)
    # The admin's pair was not touched by user 2's refresh (CASE-09).
    assert installed.db.get_token(portal.id, 1).version == 1


def test_dead_refresh_token_fails_the_job_with_reauth(installed: Stack) -> None:
    token = installed.open(2).token
    assert token
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    pair = installed.db.get_token(portal.id, 2)
    installed.db.swap_token(
        portal_id=portal.id,
        user_id=2,
        expected_version=pair.version,
        access_token="dead-access",
        refresh_token="dead-refresh",
        expires_at=0,
    )
    scan = installed.scan(token, 3)
    assert scan["status"] == "failed"
    assert scan["error"]["code"] == "reauth_required"
    assert "dead" not in str(scan)
    assert installed.db.get_token(portal.id, 2).status == "reauth_required"


@pytest.mark.parametrize("entity_type_id", [1, 2, 3, 4])
def test_every_type_finds_exactly_its_seeded_groups_and_shared_pairs(
    installed: Stack, admin: str, entity_type_id: int
) -> None:
    scan = installed.scan(admin, entity_type_id)
    assert scan["status"] == "done", scan
    found = sorted((tuple(g["entityIds"]), tuple(g["matchedOn"])) for g in scan["groups"])
    expected = sorted(
        (g.ids, tuple(sorted(g.matched_on)))
        for g in SEED_GROUPS
        if g.entity_type_id == entity_type_id
    )
    assert found == expected
    assert all(g["entityTypeId"] == entity_type_id for g in scan["groups"])
    shared = sorted((tuple(s["entityIds"]), tuple(s["matchedOn"])) for s in scan["shared"])
    assert shared == sorted(
        (s.ids, (s.shared,)) for s in SEED_SHARED if s.entity_type_id == entity_type_id
    )
    total = SEED_COUNTS[entity_type_id]
    assert scan["progress"] == {"done": total, "total": total}
    assert scan["stats"]["ignoredValues"] == SEED_IGNORED[entity_type_id]
    assert scan["stats"]["recordsRead"] == total


def test_deal_groups_show_their_client_and_keep_the_oldest(installed: Stack, admin: str) -> None:
    scan = installed.scan(admin, 2)
    supply = next(g for g in scan["groups"] if g["entityIds"][0] == 7)
    assert supply["matchedOn"] == ["title+client"]
    assert [r["client"] for r in supply["records"]] == [{"type": "company", "id": 3}] * 2
    assert [r["name"] for r in supply["records"]] == [
        "Поставка оборудования",
        "Postavka oborudovaniya",
    ]
    lists = [c for c in installed.portal.calls if c["method"] == "crm.deal.list"]
    assert any("COMPANY_ID" in (c["params"].get("select") or []) for c in lists)


def test_deal_groups_merge_and_conflicts_lead_to_the_deal_merge_page(
    installed: Stack, admin: str
) -> None:
    scan = installed.scan(admin, 2)
    merge = installed.merge(admin, [g["entityIds"] for g in scan["groups"]], entity_type_id=2)
    outcome = {tuple(r["entityIds"]): r for r in merge["results"]}
    for seeded in (g for g in SEED_GROUPS if g.entity_type_id == 2):
        result = outcome[seeded.ids]
        assert result["status"] == seeded.merge_status, seeded.name
        if seeded.merge_status == "CONFLICT":
            ids = ",".join(str(i) for i in seeded.ids)
            assert result["manualMergeUrl"] == f"{installed.portal.url}/crm/deal/merge/?id={ids}"
    assert 1 in installed.portal.records(2) and 2 not in installed.portal.records(2)


def test_case13_same_main_number_other_extension_is_listed_never_grouped(
    installed: Stack, admin: str
) -> None:
    # Contacts 13 and 15: Elena Morozova, +7 495 123-45-67 ext. 99 and ext. 98. The portal's
    # own duplicate search ignores extensions (it names both); the app checks them again.
    scan = installed.scan(admin, 3, seedId=13)
    assert scan["status"] == "done", scan
    assert scan["groups"] == []
    assert {tuple(s["entityIds"]) for s in scan["shared"]} == {(12, 13), (13, 14), (13, 15)}
    assert {tuple(s["matchedOn"]) for s in scan["shared"]} == {("phone_extension",)}
    searches = [c for c in installed.portal.calls if c["method"] == "crm.duplicate.findbycomm"]
    assert searches, "the record's duplicates are searched with the portal's findbycomm"
    # Leads 11 and 12: one Anton Belov, extensions 101 and 102: still only listed.
    leads = installed.scan(admin, 1, seedId=11)
    assert leads["groups"] == []
    assert [(s["entityIds"], s["matchedOn"]) for s in leads["shared"]] == [
        ([11, 12], ["phone_extension"])
    ]
    merges = [c for c in installed.portal.calls if c["method"].lower() == "crm.entity.mergebatch"]
    assert merges == []


def test_cancel_a_queued_scan(installed: Stack, admin: str) -> None:
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    job = installed.db.create_scan_job(portal_id=portal.id, user_id=1, entity_type_id=3, params={})
    installed.db.claim_job(job.id, "someone-else", stale_before=0)  # held by another worker
    response = installed.api("POST", f"/scans/{job.id}/cancel", admin)
    assert response.status_code == 202
    assert installed.db.get_job(job.id).cancel_requested


def test_cyrillic_reaches_the_api_intact(installed: Stack, admin: str) -> None:
    scan = installed.scan(admin, 3)
    names = {r["name"] for g in scan["groups"] for r in g["records"]}
    assert any("Иван" in name for name in names)


@pytest.mark.parametrize(
    ("entity_type_id", "seed", "group"),
    [
        (3, 7, (7, 8, 9)),  # transitive: 7~8 by phone, 8~9 by e-mail (one more hop)
        (3, 9, (7, 8, 9)),
        (3, 66, (64, 65, 66, 67, 68)),  # one number written five ways
        (1, 8, (7, 8)),
        (4, 13, (12, 13)),
        (4, 6, (6, 7)),  # title only: ООО «Альфа-Строй» and Alfa-Stroy LLC
        (4, 1, (1, 2)),
    ],
)
def test_duplicates_of_one_record_come_from_findbycomm_not_a_full_read(
    installed: Stack, admin: str, entity_type_id: int, seed: int, group: tuple[int, ...]
) -> None:
    scan = installed.scan(admin, entity_type_id, seedId=seed)
    assert scan["status"] == "done", scan
    assert [tuple(g["entityIds"]) for g in scan["groups"]] == [group]
    assert scan["stats"]["searched"] == "findbycomm"
    assert scan["stats"]["recordsRead"] < SEED_COUNTS[entity_type_id]
    assert scan["progress"]["done"] == scan["progress"]["total"] == scan["stats"]["recordsRead"]
    method = {1: "crm.lead.list", 3: "crm.contact.list", 4: "crm.company.list"}[entity_type_id]
    lists = [c for c in installed.portal.calls if c["method"] == method]
    # No count request and no unfiltered read: only the seed, candidates and namesakes.
    assert all(c["params"].get("filter") for c in lists)
    searches = [c for c in installed.portal.calls if c["method"] == "crm.duplicate.findbycomm"]
    assert searches and all(not c["via_batch"] for c in searches)
    entity = {1: "LEAD", 3: "CONTACT", 4: "COMPANY"}[entity_type_id]
    for call in searches:
        assert call["params"]["type"] in ("PHONE", "EMAIL")
        assert call["params"]["entity_type"] == entity
        assert 0 < len(call["params"]["values"]) <= 20


def test_one_deal_falls_back_to_reading_all_deals(installed: Stack, admin: str) -> None:
    scan = installed.scan(admin, 2, seedId=8)
    assert [g["entityIds"] for g in scan["groups"]] == [[7, 8]]
    assert scan["stats"]["searched"] == "all"
    assert not [c for c in installed.portal.calls if c["method"] == "crm.duplicate.findbycomm"]


def test_a_record_that_does_not_exist_has_no_duplicates(installed: Stack, admin: str) -> None:
    scan = installed.scan(admin, 3, seedId=9999)
    assert scan["status"] == "done"
    assert scan["groups"] == [] and scan["stats"]["seedFound"] is False


def test_case14_a_400_with_an_empty_error_fails_the_search(installed: Stack, admin: str) -> None:
    # The portal did not see `type` (as when a client sends a GET with a body) and answers
    # 400 {"error": "", "error_description": "Communication type is not defined."}.
    installed.portal.lost_params["crm.duplicate.findbycomm"] = {"type"}
    scan = installed.scan(admin, 3, seedId=7)
    assert scan["status"] == "failed"
    assert scan["error"]["code"] == "duplicate_search_failed"
    assert "Communication type is not defined" in scan["error"]["message"]
    assert scan["groups"] == []
    failed = [c for c in installed.portal.calls if c["method"] == "crm.duplicate.findbycomm"]
    assert failed and failed[0]["status"] == 400 and failed[0]["error"]


@pytest.mark.parametrize(
    ("result", "ids"),
    [
        ([], []),  # nothing found: an empty JSON array, not an object
        ({}, []),
        ({"CONTACT": [275, 2297]}, [275, 2297]),
        ({"LEAD": [1]}, []),
        ({"CONTACT": {"0": "5"}}, [5]),
    ],
)
def test_case14_findbycomm_results(result: Any, ids: list[int]) -> None:
    assert found_ids(result, "CONTACT") == ids


@pytest.mark.parametrize("result", [None, "", 0, "error", [1, 2]])
def test_case14_anything_else_is_a_failure(result: Any) -> None:
    with pytest.raises(BitrixError) as caught:
        found_ids(result, "CONTACT")
    assert caught.value.code == "duplicate_search_failed"


def test_a_record_with_many_phones_and_emails_is_searched_twenty_values_a_call(
    installed: Stack, admin: str
) -> None:
    portal = installed.portal
    phones = [f"+7 931 {100 + i:03d}-00-{i:02d}" for i in range(25)]
    emails = [f"many.{i}@values.example" for i in range(25)]
    seed = portal.add_record(
        3,
        {
            "NAME": "Vasily",
            "LAST_NAME": "Mnogonomerov",
            "PHONE": [{"VALUE": p, "VALUE_TYPE": "WORK"} for p in phones],
            "EMAIL": [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in emails],
        },
        created="2020-01-01T10:00:00+03:00",
    )
    # Their duplicates hold only values late in the lists: found only if every value is asked.
    by_phone = portal.add_record(
        3,
        {"NAME": "Vasily", "LAST_NAME": "Mnogonomerov", "PHONE": [{"VALUE": phones[24]}]},
        created="2021-01-01T10:00:00+03:00",
    )
    by_email = portal.add_record(
        3,
        {"NAME": "Vasily", "LAST_NAME": "Mnogonomerov", "EMAIL": [{"VALUE": emails[23]}]},
        created="2022-01-01T10:00:00+03:00",
    )
    before = len(portal.calls)
    scan = installed.scan(admin, 3, seedId=seed)
    assert scan["status"] == "done", scan
    assert [g["entityIds"] for g in scan["groups"]] == [[seed, by_phone, by_email]]
    searches = [c for c in portal.calls[before:] if c["method"] == "crm.duplicate.findbycomm"]
    sizes = [len(c["params"]["values"]) for c in searches]
    assert sizes and max(sizes) <= 20
    asked = {v for c in searches for v in c["params"]["values"]}
    assert set(emails) <= asked and set(phones) <= asked
    assert all(c["status"] == 200 for c in searches)
