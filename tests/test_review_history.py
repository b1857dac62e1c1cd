"""Review before merging, "not duplicates" marks, the user's jobs and the portal's history."""

from __future__ import annotations

import csv
import io
import re

import pytest

from b24app.devportal import SEED_GROUPS
from b24app.i18n import STRINGS
from b24app.review import conflicting_fields
from b24app.web.api import csv_safe
from tests.helpers import Stack, wait_until

CONTACT_GROUPS = [g for g in SEED_GROUPS if g.entity_type_id == 3]


def _records(stack: Stack, token: str, entity_type: int, ids: str) -> dict:
    response = stack.api("GET", f"/records?entityTypeId={entity_type}&ids={ids}", token)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("group", SEED_GROUPS, ids=lambda g: g.name)
def test_records_predict_the_merge_outcome(installed: Stack, group) -> None:
    token = installed.open(1).token
    body = _records(installed, token, group.entity_type_id, ",".join(map(str, group.ids)))
    assert [r["id"] for r in body["records"]] == list(group.ids)
    assert body["missing"] == []
    assert bool(body["conflicts"]) == (group.merge_status == "CONFLICT"), body["conflicts"]


def test_records_list_multi_fields_value_by_value(installed: Stack) -> None:
    token = installed.open(1).token
    body = _records(installed, token, 3, "1,2,3,4")
    assert "NAME" in body["fields"] and "PHONE" not in body["fields"]
    assert all(isinstance(r["phones"], list) for r in body["records"])
    assert any(len(r["phones"]) >= 1 for r in body["records"])
    assert "NAME" in body["conflicts"]


def test_records_keep_the_order_asked_and_name_the_missing(installed: Stack) -> None:
    token = installed.open(1).token
    body = _records(installed, token, 3, "4,1,99999")
    assert [r["id"] for r in body["records"]] == [4, 1]
    assert body["missing"] == [99999]


def test_records_name_what_the_portal_lists(installed: Stack) -> None:
    """Codes and IDs come back with the names the portal gives them, for every kind of field."""
    portal = installed.portal
    tier = portal.add_user_field(3, "UF_CRM_TIER", "Сегмент", kind="enumeration", items=["VIP"])
    portal.crm.update(3, 1, {"UF_CRM_TIER": tier["items"][0]["ID"], "COMPANY_ID": "1"}, 1)
    token = installed.open(2).token
    body = _records(installed, token, 3, "1,2,4")
    first, second, fourth = body["records"]
    assert first["fields"]["TYPE_ID"] == "CLIENT"
    assert first["display"]["TYPE_ID"] == "Клиенты"  # crm.status.list CONTACT_TYPE, ru portal
    assert first["display"]["SOURCE_ID"] == "Свой контакт"
    assert first["display"]["ASSIGNED_BY_ID"] == "Ivan Admin"  # user.get
    assert second["display"]["ASSIGNED_BY_ID"] == "Maria Manager"
    assert fourth["display"]["CREATED_BY_ID"] == "Oleg Restricted"
    assert first["display"]["COMPANY_ID"] == "Romashka LLC"  # the linked company's title
    assert first["display"]["UF_CRM_TIER"] == "VIP"  # the field's own items
    assert body["labels"]["UF_CRM_TIER"] == "Сегмент"
    types = body["types"]
    assert types["EXPORT"] == "char" and types["DATE_CREATE"] == "datetime"
    assert types["ASSIGNED_BY_ID"] == "user" and types["TYPE_ID"] == "crm_status"
    assert "EXPORT" not in first["display"]  # yes/no is the UI's to say, in the user's language
    deal = _records(installed, token, 2, "1,2")["records"][0]
    assert deal["display"]["STAGE_ID"] == "Новая"  # DEAL_STAGE of the default pipeline
    assert deal["display"]["CATEGORY_ID"] == "Общая"  # crm.category.list
    assert deal["display"]["CONTACT_ID"] == "Anna Smirnova"
    assert "OPPORTUNITY" not in deal["display"]


def test_records_fall_back_to_codes_when_the_portal_names_nothing(installed: Stack) -> None:
    installed.portal.crm.update(3, 5, {"TYPE_ID": "NO_SUCH_TYPE", "ASSIGNED_BY_ID": "77"}, 1)
    body = _records(installed, installed.open(1).token, 3, "5,6")
    record = body["records"][0]
    assert record["fields"]["TYPE_ID"] == "NO_SUCH_TYPE"
    assert "TYPE_ID" not in record["display"] and "ASSIGNED_BY_ID" not in record["display"]


def test_conflicts_are_predicted_for_a_page_of_groups(installed: Stack) -> None:
    token = installed.open(1).token
    groups = [list(g.ids) for g in CONTACT_GROUPS]
    before = len(installed.portal.calls)
    response = installed.api("POST", "/conflicts", token, {"entityTypeId": 3, "groups": groups})
    assert response.status_code == 200, response.text
    predicted = {tuple(g["entityIds"]): g for g in response.json()["groups"]}
    for group in CONTACT_GROUPS:
        found = predicted[group.ids]
        assert bool(found["conflicts"]) == (group.merge_status == "CONFLICT"), group.name
        assert found["missing"] == []
    sent = [c["method"] for c in installed.portal.calls[before:] if not c["via_batch"]]
    assert sent == ["batch"]  # one request for the whole page


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"entityTypeId": 3, "groups": [[1]]}, 422),
        ({"entityTypeId": 7, "groups": [[1, 2]]}, 422),
        ({"entityTypeId": 3, "groups": [[1, 2], [2, 3]]}, 422),
        ({"entityTypeId": 3, "groups": [[i, i + 1000] for i in range(1, 52)]}, 413),
    ],
)
def test_conflicts_refuse_bad_requests(installed: Stack, body: dict, status: int) -> None:
    response = installed.api("POST", "/conflicts", installed.open(1).token, body)
    assert response.status_code == status and "error" in response.json()


def test_names_of_records(installed: Stack) -> None:
    token = installed.open(1).token
    response = installed.api("GET", "/names?entityTypeId=3&ids=1,5,99999", token)
    assert response.json() == {"names": {"1": "Иван Петров", "5": "Anna Smirnova"}}
    companies = installed.api("GET", "/names?entityTypeId=4&ids=1", token).json()
    assert companies == {"names": {"1": "Romashka LLC"}}
    ids = ",".join(str(i) for i in range(1, 502))
    assert installed.api("GET", f"/names?entityTypeId=3&ids={ids}", token).status_code == 413
    assert installed.api("GET", "/names?entityTypeId=3&ids=a", token).status_code == 422


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("entityTypeId=9&ids=1,2", 422),
        ("entityTypeId=3&ids=", 422),
        ("entityTypeId=3&ids=1,x", 422),
        ("entityTypeId=3&ids=-1", 422),
        ("entityTypeId=3&ids=" + ",".join(str(i) for i in range(1, 52)), 413),
    ],
)
def test_records_refuse_bad_requests(installed: Stack, query: str, status: int) -> None:
    token = installed.open(1).token
    response = installed.api("GET", f"/records?{query}", token)
    assert response.status_code == status
    assert "error" in response.json()


def test_records_need_a_session(installed: Stack) -> None:
    assert installed.api("GET", "/records?entityTypeId=3&ids=1,2", None).status_code == 401


def test_conflicting_fields_ignore_empty_and_system_fields() -> None:
    rows = [
        {"ID": "1", "NAME": "Ivan", "POST": "", "DATE_CREATE": "a", "ASSIGNED_BY_ID": "1"},
        {"ID": "2", "NAME": "Ivan ", "POST": "CEO", "DATE_CREATE": "b", "ASSIGNED_BY_ID": "2"},
        {"ID": "3", "NAME": None, "POST": "CEO", "LAST_NAME": "Petrov"},
    ]
    assert conflicting_fields(rows) == []
    rows[2]["NAME"] = "Иван"
    assert conflicting_fields(rows) == ["NAME"]


def test_not_duplicates_are_not_proposed_again(installed: Stack) -> None:
    token = installed.open(1).token
    first = installed.scan(token)
    assert [1, 2, 3, 4] in [g["entityIds"] for g in first["groups"]]
    body = {"entityTypeId": 3, "entityIds": [2, 1, 3, 4]}
    assert installed.api("POST", "/not-duplicates", token, body).status_code == 201
    assert installed.api("POST", "/not-duplicates", token, body).status_code == 201  # idempotent
    second = installed.scan(token)
    assert [1, 2, 3, 4] not in [g["entityIds"] for g in second["groups"]]
    assert second["groupsTotal"] == first["groupsTotal"] - 1
    assert second["stats"]["notDuplicates"] == 1
    # another user of the same portal sees the mark too; another type does not
    other = installed.open(2).token
    assert [1, 2, 3, 4] not in [g["entityIds"] for g in installed.scan(other)["groups"]]
    assert installed.api("DELETE", "/not-duplicates", token, body).status_code == 200
    assert installed.api("DELETE", "/not-duplicates", token, body).status_code == 404
    assert [1, 2, 3, 4] in [g["entityIds"] for g in installed.scan(token)["groups"]]


@pytest.mark.parametrize(
    "body",
    [
        {"entityTypeId": 3, "entityIds": [1]},
        {"entityTypeId": 3, "entityIds": [1, 1]},
        {"entityTypeId": 3, "entityIds": [1, "2"]},
        {"entityTypeId": 7, "entityIds": [1, 2]},
        {"entityTypeId": 3, "entityIds": list(range(1, 60))},
        {"entityTypeId": 3},
    ],
)
def test_not_duplicates_refuse_bad_groups(installed: Stack, body: dict) -> None:
    token = installed.open(1).token
    assert installed.api("POST", "/not-duplicates", token, body).status_code == 422


def test_jobs_list_the_users_own_recent_jobs(installed: Stack) -> None:
    token = installed.open(1).token
    scan = installed.scan(token)
    merge = installed.merge(token, [[5, 6]])
    installed.scan(installed.open(2).token)
    jobs = installed.api("GET", "/jobs", token).json()["jobs"]
    assert [(j["kind"], j["id"]) for j in jobs] == [("merge", merge["id"]), ("scan", scan["id"])]
    assert jobs[1]["groupsTotal"] == scan["groupsTotal"]
    assert jobs[0]["status"] == "done" and jobs[0]["createdAt"].endswith("+00:00")


def test_history_records_every_outcome_with_who(installed: Stack) -> None:
    admin = installed.open(1).token
    installed.merge(admin, [[5, 6], [10, 11]])
    restricted = installed.open(3).token
    installed.merge(restricted, [[7, 8, 9]])
    history = installed.api("GET", "/history", installed.open(2).token).json()
    assert history["total"] == 3
    by_ids = {tuple(item["entityIds"]): item for item in history["items"]}
    assert by_ids[(5, 6)]["status"] == "SUCCESS" and by_ids[(5, 6)]["keptId"] == 5
    assert by_ids[(5, 6)]["mergedIds"] == [6]
    assert by_ids[(5, 6)]["userName"] == "Ivan Admin"
    assert by_ids[(10, 11)]["status"] == "CONFLICT"
    assert by_ids[(10, 11)]["manualMergeUrl"].endswith("/crm/contact/merge/?id=10,11")
    assert by_ids[(7, 8, 9)]["status"] == "ERROR" and by_ids[(7, 8, 9)]["userId"] == 3
    assert {u["id"] for u in history["users"]} == {1, 3}
    assert history["counts"] == {"SUCCESS": 1, "CONFLICT": 1, "ERROR": 1}
    only = installed.api("GET", "/history?status=ERROR", admin).json()["counts"]
    assert only == {"SUCCESS": 0, "CONFLICT": 0, "ERROR": 1}

    def count(query: str) -> int:
        response = installed.api("GET", f"/history?{query}", admin)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    assert count("status=SUCCESS") == 1
    assert count("status=ERROR&userId=3") == 1
    assert count("userId=1") == 2
    assert count("from=2000-01-01&to=2999-12-31") == 3
    assert count("to=2000-01-01") == 0
    assert count("from=2999-01-01&tzOffset=-180") == 0
    assert count("limit=1") == 3
    assert len(installed.api("GET", "/history?limit=1", admin).json()["items"]) == 1


def test_a_name_with_a_nul_character_is_stored_without_it(installed: Stack) -> None:
    """PostgreSQL's text types cannot hold NUL: what a portal sends is stored without it."""
    installed.portal.users[1].last_name = "Ad\x00min"
    admin = installed.open(1).token
    assert installed.merge(admin, [[5, 6]])["status"] == "done"
    (item,) = installed.api("GET", "/history", admin).json()["items"]
    assert item["status"] == "SUCCESS" and item["userName"] == "Ivan Admin"


@pytest.mark.parametrize(
    "query", ["status=DONE", "userId=x", "from=yesterday", "tzOffset=99999", "format=xml"]
)
def test_history_refuses_bad_filters(installed: Stack, query: str) -> None:
    token = installed.open(1).token
    assert installed.api("GET", f"/history?{query}", token).status_code == 422


def test_history_exports_csv_safely(installed: Stack) -> None:
    installed.portal.users[1].name = '=HYPERLINK("http://evil")'
    admin = installed.open(1).token
    installed.merge(admin, [[5, 6]])
    response = installed.api("GET", "/history?format=csv", admin)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="merge-history-')
    assert disposition.endswith('.csv"')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["finishedAt", "userId", "userName"]
    assert rows[1][2].startswith("'=HYPERLINK")
    assert rows[1][4:8] == ["5 6", "5", "6", "SUCCESS"]


@pytest.mark.parametrize(
    ("lang", "delimiter", "header", "status"),
    [
        ("ru", ";", "Дата и время", "Объединено"),
        ("de", ";", "Datum und Uhrzeit", "Zusammengeführt"),
        ("en", ",", "Date and time", "Merged"),
    ],
)
def test_history_exports_a_spreadsheet_in_the_users_language(
    installed: Stack, lang: str, delimiter: str, header: str, status: str
) -> None:
    installed.portal.users[1].name = "=cmd"
    admin = installed.open(1).token
    installed.merge(admin, [[5, 6]])
    installed.merge(installed.open(3).token, [[7, 8, 9]])
    response = installed.api("GET", f"/history?format=csv&lang={lang}&tzOffset=-180", admin)
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    assert rows[0][0] == header and len(rows[0]) == 10
    by_ids = {row[4]: row for row in rows[1:]}
    merged = by_ids["5 6"]
    assert merged[7] == status and merged[2] == "'=cmd Admin"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", merged[0])
    refused = by_ids["7 8 9"]
    assert refused[8] == STRINGS[lang]["error_merge_refused"]  # the reason, in words
    assert installed.api("GET", "/history?format=csv&lang=fr", admin).status_code == 422


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+7 999", "'+7 999"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("Ivan", "Ivan"),
        (None, ""),
        (12, "12"),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, expected: str) -> None:
    assert csv_safe(value) == expected


def test_history_and_marks_go_with_a_clean_uninstall(installed: Stack) -> None:
    admin = installed.open(1).token
    installed.merge(admin, [[5, 6]])
    installed.api("POST", "/not-duplicates", admin, {"entityTypeId": 3, "entityIds": [1, 2]})
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    assert installed.db.merge_history(portal.id)[0] == 1
    installed.portal.uninstall(clean=True)
    wait_until(lambda: installed.db.get_portal(portal_id=portal.id).state == "uninstalled")
    assert installed.db.merge_history(portal.id)[0] == 0
    assert installed.db.not_duplicate_sets(portal.id, 3) == []


def test_history_stays_after_an_uninstall_without_clean(installed: Stack) -> None:
    admin = installed.open(1).token
    installed.merge(admin, [[5, 6]])
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    installed.portal.uninstall(clean=False)
    wait_until(lambda: installed.db.get_portal(portal_id=portal.id).state == "uninstalled")
    assert installed.db.merge_history(portal.id)[0] == 1
