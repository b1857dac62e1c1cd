"""Portal REST: auth placement, envelopes, lists, batch, duplicates, merge, bindings, limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from devportal_support import call, token_for

from b24app.devportal import DevPortal, Portal


@pytest.fixture
def admin(portal: Portal) -> str:
    """Return an access token of the admin."""
    return token_for(portal, 1)


# -- auth and envelope ----------------------------------------------------------------------------


def test_auth_in_query_form_and_json(portal: Portal, admin: str) -> None:
    base = f"{portal.url}/rest/profile"
    answers = [
        requests.get(base, params={"auth": admin}, timeout=10),
        requests.post(base + ".json", data={"auth": admin}, timeout=10),
        requests.post(base + ".json", json={"auth": admin}, timeout=10),
    ]
    for response in answers:
        assert response.status_code == 200
        body = response.json()
        assert body["result"]["ADMIN"] is True
        assert set(body["time"]) == {
            "start",
            "finish",
            "duration",
            "processing",
            "date_start",
            "date_finish",
            "operating_reset_at",
            "operating",
        }


def test_auth_errors(portal: Portal) -> None:
    missing = requests.post(f"{portal.url}/rest/profile.json", json={}, timeout=10)
    assert missing.status_code == 401 and missing.json()["error"] == "NO_AUTH_FOUND"
    bad = call(portal, "profile", "nope")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"


def test_unknown_method(portal: Portal, admin: str) -> None:
    response = call(portal, "crm.nothing.here", admin)
    assert response.status_code == 404 and response.json()["error"] == "ERROR_METHOD_NOT_FOUND"


def test_strict_utf8(portal: Portal, admin: str) -> None:
    response = requests.post(
        f"{portal.url}/rest/profile.json",
        data=b"auth=" + admin.encode() + b"&x=%FF%FE",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 400


def test_cors_preflight_and_origin(portal: Portal, admin: str) -> None:
    origin = "http://127.0.0.1:9999"
    pre = requests.options(
        f"{portal.url}/rest/user.current",
        timeout=10,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == origin
    assert "content-type" in pre.headers["Access-Control-Allow-Headers"]
    real = requests.post(
        f"{portal.url}/rest/user.current",
        json={"auth": admin},
        headers={"Origin": origin},
        timeout=10,
    )
    assert real.headers["Access-Control-Allow-Origin"] == origin


def test_identity_methods(portal: Portal) -> None:
    manager = token_for(portal, 2)
    assert call(portal, "user.admin", manager).json()["result"] is False
    assert call(portal, "profile", manager).json()["result"]["ADMIN"] is False
    assert call(portal, "scope", manager).json()["result"] == ["crm", "placement", "user_brief"]
    info = call(portal, "app.info", manager).json()["result"]
    assert info["INSTALLED"] is False and info["STATUS"] == "L" and info["LANGUAGE_ID"] == "ru"
    assert portal.calls[-1]["method"] == "app.info" and portal.calls[-1]["user_id"] == 2


# -- CRM reading ---------------------------------------------------------------------------------


def test_list_paging_with_total_and_next(portal: Portal, admin: str) -> None:
    first = call(portal, "crm.contact.list", admin, {"order": {"ID": "ASC"}}).json()
    assert len(first["result"]) == 50 and first["total"] == 70 and first["next"] == 50
    assert "PHONE" not in first["result"][0]  # '*' leaves multi-fields out
    second = call(portal, "crm.contact.list", admin, {"start": 50}).json()
    assert len(second["result"]) == 20 and second["total"] == 70 and "next" not in second
    ids = [r["ID"] for r in first["result"] + second["result"]]
    assert ids == [str(i) for i in range(1, 71)]


def test_list_keyset_without_count(portal: Portal, admin: str) -> None:
    params = {
        "order": {"ID": "ASC"},
        "filter": {">ID": 50},
        "start": -1,
        "select": ["ID", "NAME", "PHONE", "EMAIL"],
    }
    body = call(portal, "crm.contact.list", admin, params).json()
    assert [r["ID"] for r in body["result"]] == [str(i) for i in range(51, 71)]
    assert body["total"] == 0 and "next" not in body
    assert set(body["result"][0]) == {"ID", "NAME", "PHONE", "EMAIL"}
    phone = body["result"][0]["PHONE"][0]
    assert set(phone) == {"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"} and phone["TYPE_ID"] == "PHONE"


def test_list_form_encoded_filters(portal: Portal, admin: str) -> None:
    query = urlencode(
        {
            "auth": admin,
            "filter[>=ID]": "5",
            "filter[<ID]": "8",
            "order[ID]": "DESC",
            "select[0]": "ID",
            "select[1]": "LAST_NAME",
        }
    )
    body = requests.get(f"{portal.url}/rest/crm.contact.list?{query}", timeout=10).json()
    assert [r["ID"] for r in body["result"]] == ["7", "6", "5"]
    body = call(
        portal, "crm.contact.list", admin, {"filter": {"@ID": [1, 3], "%LAST_NAME": "етр"}}
    ).json()
    assert [r["ID"] for r in body["result"]] == ["1", "3"]
    body = call(
        portal, "crm.contact.list", admin, {"filter": {"PHONE": "89123456789"}, "select": ["ID"]}
    ).json()
    assert [r["ID"] for r in body["result"]] == ["3"]  # multi-field filters match exactly


def test_list_errors_have_empty_code(portal: Portal, admin: str) -> None:
    response = call(portal, "crm.contact.list", admin, {"order": "ID"})
    assert response.status_code == 400
    assert response.json() == {"error": "", "error_description": "Parameter 'order' must be array"}


def test_item_list_camel_case(portal: Portal, admin: str) -> None:
    body = call(
        portal,
        "crm.item.list",
        admin,
        {"entityTypeId": 3, "filter": {">id": 65}, "order": {"id": "ASC"}, "start": -1},
    ).json()
    items = body["result"]["items"]
    assert [i["id"] for i in items] == [66, 67, 68, 69, 70]
    assert items[0]["fm"][0]["typeId"] == "PHONE" and "createdTime" in items[0]
    page = call(portal, "crm.item.list", admin, {"entityTypeId": 3, "select": ["id", "name"]})
    assert page.json()["total"] == 70 and page.json()["next"] == 50
    assert set(page.json()["result"]["items"][0]) == {"id", "name"}


def test_add_get_update_with_cyrillic(portal: Portal, admin: str) -> None:
    fields = {
        "NAME": "Ёжик «кавычки» 🙂",
        "PHONE": [{"VALUE": "+7 900 000-00-00", "VALUE_TYPE": "WORK"}],
    }
    new_id = call(portal, "crm.contact.add", admin, {"fields": fields}).json()["result"]
    record = call(portal, "crm.contact.get", admin, {"id": new_id}).json()["result"]
    assert record["NAME"] == "Ёжик «кавычки» 🙂"
    assert record["PHONE"][0]["VALUE"] == "+7 900 000-00-00"
    form = {
        "auth": admin,
        "id": str(new_id),
        "fields[LAST_NAME]": "Тест",
        "fields[EMAIL][0][VALUE]": "x@y.example",
    }
    assert (
        requests.post(f"{portal.url}/rest/crm.contact.update.json", data=form, timeout=10).json()[
            "result"
        ]
        is True
    )
    stored = portal.records(3)[new_id]
    assert stored["LAST_NAME"] == "Тест" and stored["EMAIL"][0]["VALUE"] == "x@y.example"
    missing = call(portal, "crm.contact.get", admin, {"id": 9999})
    assert missing.status_code == 400 and missing.json()["error"] == ""


# -- batch -----------------------------------------------------------------------------------------


def test_batch_map_with_references_and_empty_sections(portal: Portal, admin: str) -> None:
    cmd = {
        "page": "crm.contact.list?order[ID]=ASC&start=-1&select[]=ID",
        "next": "crm.contact.list?order[ID]=ASC&start=-1&filter[>ID]=$result[page][49][ID]",
        "me": "user.current",
    }
    body = call(portal, "batch", admin, {"cmd": cmd, "halt": 0}).json()
    result = body["result"]
    assert [r["ID"] for r in result["result"]["next"]] == [str(i) for i in range(51, 71)]
    assert result["result"]["me"]["ID"] == "1"
    assert result["result_error"] == [] and result["result_next"] == []
    assert result["result_total"] == {"page": 0, "next": 0} or result["result_total"] == []
    assert set(result["result_time"]) == {"page", "next", "me"}
    assert [c["via_batch"] for c in portal.calls[-4:]] == [False, True, True, True]
    assert portal.calls[-2]["params"]["filter"] == {">ID": "50"}


def test_batch_list_cmd_errors_and_halt(portal: Portal, admin: str) -> None:
    cmd = ["user.current", "crm.contact.get?id=999", "profile"]
    body = call(portal, "batch", admin, {"cmd": cmd}).json()["result"]
    assert isinstance(body["result"], dict) and set(body["result"]) == {"0", "2"}
    assert body["result_error"]["1"]["error"] == ""
    halted = call(portal, "batch", admin, {"cmd": cmd, "halt": 1}).json()["result"]
    assert halted["result"] == [halted["result"][0]] and "1" in halted["result_error"]
    ok = call(portal, "batch", admin, {"cmd": ["user.current", "profile"]}).json()["result"]
    assert isinstance(ok["result"], list) and len(ok["result"]) == 2
    assert ok["result_error"] == []


def test_batch_limits(portal: Portal, admin: str) -> None:
    too_many = call(portal, "batch", admin, {"cmd": ["profile"] * 51})
    assert too_many.status_code == 400
    assert too_many.json()["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"
    nested = call(portal, "batch", admin, {"cmd": {"inner": "batch?cmd[0]=profile"}}).json()
    assert nested["result"]["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


def test_batch_form_encoded_cmd(portal: Portal, admin: str) -> None:
    command = "crm.contact.add?" + urlencode(
        {
            "fields[NAME]": "Иван",
            "fields[PHONE][0][VALUE]": "+70000000003",
            "fields[PHONE][0][VALUE_TYPE]": "WORK",
        }
    )
    form = {"auth": admin, "cmd[add]": command, "cmd[get]": "crm.contact.get?id=$result[add]"}
    body = requests.post(f"{portal.url}/rest/batch", data=form, timeout=10).json()["result"]
    assert body["result"]["get"]["NAME"] == "Иван"
    assert body["result"]["get"]["PHONE"][0]["VALUE"] == "+70000000003"


# -- duplicates and merge -------------------------------------------------------------------------


def test_findbycomm(portal: Portal, admin: str) -> None:
    phone = call(
        portal,
        "crm.duplicate.findbycomm",
        admin,
        {"type": "PHONE", "values": ["+7 912 345-67-89"], "entity_type": "CONTACT"},
    )
    assert phone.json()["result"] == {"CONTACT": [1, 2, 3, 4]}
    every = call(
        portal, "crm.duplicate.findbycomm", admin, {"type": "PHONE", "values": ["89123456789"]}
    ).json()["result"]
    assert every == {"LEAD": [1, 2], "CONTACT": [1, 2, 3, 4]}
    ext = call(
        portal,
        "crm.duplicate.findbycomm",
        admin,
        {"type": "PHONE", "values": ["+7 495 123-45-67 ext. 1"], "entity_type": "CONTACT"},
    ).json()["result"]
    assert ext == {"CONTACT": [12, 13, 14, 15]}  # extensions are ignored
    email = call(
        portal,
        "crm.duplicate.findbycomm",
        admin,
        {"type": "EMAIL", "values": ["ivan.petrov@EXAMPLE.ru"]},
    ).json()["result"]
    assert email == {"CONTACT": [1, 3]}
    none = call(
        portal,
        "crm.duplicate.findbycomm",
        admin,
        {"type": "EMAIL", "values": ["nobody@nowhere.example"]},
    ).json()
    assert none["result"] == []
    no_type = call(portal, "crm.duplicate.findbycomm", admin, {"values": ["1"]})
    assert no_type.status_code == 400
    assert no_type.json() == {
        "error": "",
        "error_description": "Communication type is not defined.",
    }
    many = call(
        portal,
        "crm.duplicate.findbycomm",
        admin,
        {"type": "PHONE", "values": [str(i) for i in range(21)]},
    )
    assert many.status_code == 400


def _merge(portal: Portal, token: str, type_id: Any, ids: Any) -> requests.Response:
    return call(
        portal,
        "crm.entity.mergeBatch",
        token,
        {"params": {"entityTypeId": type_id, "entityIds": ids}},
    )


def test_merge_success_fills_and_unions(portal: Portal, admin: str) -> None:
    response = _merge(portal, admin, 3, [5, 6])
    assert response.status_code == 200
    assert response.json()["result"] == {"STATUS": "SUCCESS", "ENTITY_IDS": [6]}
    records = portal.records(3)
    assert 6 not in records
    kept = records[5]
    assert kept["POST"] == "Buyer" and kept["BIRTHDATE"] == "1990-07-14T00:00:00+03:00"
    # the same number written two ways is kept once (compared by digits)
    assert [p["VALUE"] for p in kept["PHONE"]] == ["+7 916 111-22-33"]
    assert [e["VALUE"] for e in kept["EMAIL"]] == ["anna.smirnova@mail.example"]
    assert portal.records(2)[1]["CONTACT_ID"] == "5"


def test_merge_conflict_changes_nothing(portal: Portal, admin: str) -> None:
    before = portal.records(3)
    response = _merge(portal, admin, 3, [10, 11])
    assert response.status_code == 200
    assert response.json()["result"] == {"STATUS": "CONFLICT", "ENTITY_IDS": []}
    assert portal.records(3) == before


def test_merge_rights(portal: Portal) -> None:
    restricted = token_for(portal, 3)
    response = _merge(portal, restricted, 3, [7, 8, 9])
    assert response.status_code == 200
    assert response.json()["result"] == {"STATUS": "ERROR", "ENTITY_IDS": []}
    assert 8 in portal.records(3)
    manager = token_for(portal, 2)
    assert _merge(portal, manager, 3, [7, 8, 9]).json()["result"]["STATUS"] == "SUCCESS"


@pytest.mark.parametrize(
    ("type_id", "ids", "text"),
    [
        (3, [5], "The parameter entityIds must contains at least two elements."),
        (3, ["a", None], "The parameter entityIds does not contains valid elements."),
        (None, [1, 2], "The parameter entityTypeId is required."),
        (3, [5, 9999], "Owner was not found"),
    ],
)
def test_merge_validation(portal: Portal, admin: str, type_id: Any, ids: Any, text: str) -> None:
    response = _merge(portal, admin, type_id, ids)
    assert response.status_code == 400
    assert response.json() == {"error": 0, "error_description": text}


def test_merge_unknown_type_and_unwrapped_params(portal: Portal, admin: str) -> None:
    assert _merge(portal, admin, 77, [1, 2]).status_code == 400
    flat = call(portal, "crm.entity.mergeBatch", admin, {"entityTypeId": 3, "entityIds": [5, 6]})
    assert flat.status_code == 400 and flat.json()["error"] == 0


def test_delete_right(portal: Portal) -> None:
    restricted = token_for(portal, 3)
    assert (
        call(portal, "crm.contact.update", restricted, {"id": 40, "fields": {"POST": "x"}}).json()[
            "result"
        ]
        is True
    )
    denied = call(portal, "crm.contact.delete", restricted, {"id": 40})
    assert denied.status_code == 400 and denied.json()["error_description"] == "Access denied."


# -- placements and events ------------------------------------------------------------------------


def test_placement_bind_and_errors(portal: Portal, admin: str, receiver: Any) -> None:
    params = {
        "PLACEMENT": "CRM_CONTACT_LIST_MENU",
        "HANDLER": receiver.url + "/app",
        "TITLE": "Find duplicates",
        "LANG_ALL": {"en": {"TITLE": "Find duplicates"}},
    }
    assert call(portal, "placement.bind", admin, params).json()["result"] is True
    again = call(portal, "placement.bind", admin, params)
    assert again.status_code == 400
    assert again.json()["error"] == "ERROR_PLACEMENT_HANDLER_ALREADY_BOUND"
    unknown = call(portal, "placement.bind", admin, {**params, "PLACEMENT": "NO_SUCH_PLACE"})
    assert unknown.json()["error"] == "ERROR_PLACEMENT_NOT_FOUND"
    manager = call(
        portal,
        "placement.bind",
        token_for(portal, 2),
        {**params, "PLACEMENT": "CRM_CONTACT_LIST_TOOLBAR"},
    )
    assert manager.status_code == 403 and manager.json()["error"] == "ACCESS_DENIED"
    listed = call(portal, "placement.get", admin).json()["result"]
    assert listed[0]["placement"] == "CRM_CONTACT_LIST_MENU" and listed[0]["title"]
    assert portal.placements[0]["langAll"] == {"en": {"TITLE": "Find duplicates"}}
    assert "CRM_CONTACT_LIST_TOOLBAR" in call(portal, "placement.list", admin).json()["result"]
    removed = call(portal, "placement.unbind", admin, {"PLACEMENT": "CRM_CONTACT_LIST_MENU"})
    assert removed.json()["result"] == {"count": 1} and portal.placements == []


def test_event_bind(portal: Portal, admin: str, receiver: Any) -> None:
    params = {"event": "onAppUninstall", "handler": receiver.url + "/events"}
    assert call(portal, "event.bind", admin, params).json()["result"] is True
    dup = call(portal, "event.bind", admin, params)
    assert dup.status_code == 400 and dup.json()["error"] == "ERROR_EVENT_HANDLER_ALREADY_BOUND"
    assert call(portal, "event.bind", admin, {**params, "event": "NOPE"}).json()["error"] == (
        "ERROR_EVENT_NOT_FOUND"
    )
    assert call(portal, "event.bind", token_for(portal, 2), params).status_code == 403
    assert call(portal, "event.get", admin).json()["result"] == [
        {
            "event": "ONAPPUNINSTALL",
            "handler": receiver.url + "/events",
            "auth_type": "0",
            "offline": 0,
        }
    ]
    assert call(portal, "event.unbind", admin, params).json()["result"] == {"count": 1}


# -- limits ----------------------------------------------------------------------------------


def test_leaky_bucket(portal: Portal, admin: str) -> None:
    portal.limits.enabled = True
    portal.limits.bucket_size = 5
    portal.limits.drain_per_sec = 0.001
    statuses = [call(portal, "profile", admin).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [503, 503]
    assert call(portal, "profile", admin).json()["error"] == "QUERY_LIMIT_EXCEEDED"
    portal.limits.advance(10_000)
    assert call(portal, "profile", admin).status_code == 200


def test_operating_time_limit(emu: DevPortal, portal: Portal, admin: str) -> None:
    portal.limits.enabled = True
    portal.limits.operating_limit_s = 0.25
    answers = [call(portal, "crm.contact.list", admin, {"start": -1}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[2].json()["time"]["operating"] == pytest.approx(0.3)
    assert answers[3].json()["error"] == "OPERATION_TIME_LIMIT"
    reset_at = answers[2].json()["time"]["operating_reset_at"]
    assert reset_at > answers[2].json()["time"]["start"]
    assert call(portal, "crm.deal.list", admin).status_code == 200  # other methods still work
    in_batch = call(portal, "batch", admin, {"cmd": ["crm.contact.list", "profile"]}).json()
    # keyed 0..n-1, so PHP encodes the section as a list
    assert in_batch["result"]["result_error"] == [
        {
            "error": "OPERATION_TIME_LIMIT",
            "error_description": "Method is blocked due to operation time limit.",
        }
    ]
    portal.limits.advance(portal.limits.operating_window_s + 1)
    assert call(portal, "crm.contact.list", admin).status_code == 200


# -- what the portal says about its CRM --------------------------------------------------------


def test_fields_describe_types_and_directories(portal: Portal, admin: str) -> None:
    contact = call(portal, "crm.contact.fields", admin).json()["result"]
    assert contact["TYPE_ID"]["type"] == "crm_status"
    assert contact["TYPE_ID"]["statusType"] == "CONTACT_TYPE"
    assert contact["ASSIGNED_BY_ID"]["type"] == "user"
    assert contact["BIRTHDATE"]["type"] == "date" and contact["DATE_CREATE"]["type"] == "datetime"
    assert contact["EXPORT"]["type"] == "char" and contact["PHONE"]["isMultiple"] is True
    assert set(contact["NAME"]) == {
        "type",
        "isRequired",
        "isReadOnly",
        "isImmutable",
        "isMultiple",
        "isDynamic",
        "title",
    }
    deal = call(portal, "crm.deal.fields", token_for(portal, 3)).json()["result"]
    assert deal["STAGE_ID"]["statusType"] == "DEAL_STAGE"
    assert deal["CATEGORY_ID"]["type"] == "crm_category"
    assert deal["CONTACT_ID"]["type"] == "crm_contact" and "PHONE" not in deal
    assert deal["OPPORTUNITY"]["type"] == "double"


def test_custom_enumeration_field_is_described_and_listed(portal: Portal, admin: str) -> None:
    spec = portal.add_user_field(3, "UF_CRM_TIER", "Tier", kind="enumeration", items=["A", "B"])
    first = spec["items"][0]["ID"]
    portal.crm.update(3, 5, {"UF_CRM_TIER": first}, 1)
    described = call(portal, "crm.contact.fields", admin).json()["result"]["UF_CRM_TIER"]
    assert described["isDynamic"] is True and described["title"] == "UF_CRM_TIER"
    assert described["formLabel"] == "Tier" and [i["VALUE"] for i in described["items"]] == [
        "A",
        "B",
    ]
    star = {"filter": {"ID": 5}, "select": ["*"]}
    assert "UF_CRM_TIER" not in call(portal, "crm.contact.list", admin, star).json()["result"][0]
    both = {"filter": {"ID": 5}, "select": ["*", "UF_*"]}
    row = call(portal, "crm.contact.list", admin, both).json()["result"][0]
    assert row["UF_CRM_TIER"] == first
    plain = call(portal, "crm.contact.list", admin, {"filter": {"ID": 6}}).json()["result"][0]
    assert "UF_CRM_TIER" in plain and plain["UF_CRM_TIER"] is None  # no select: * and UF_*


def test_status_list_filters_orders_and_names_in_the_portal_language(
    portal: Portal, admin: str
) -> None:
    body = call(
        portal,
        "crm.status.list",
        admin,
        {"order": {"SORT": "ASC"}, "filter": {"ENTITY_ID": "DEAL_STAGE"}},
    ).json()
    stages = body["result"]
    assert body["total"] == len(stages) == 8
    assert [s["STATUS_ID"] for s in stages][:2] == ["NEW", "PREPARATION"]
    assert stages[0]["NAME"] == "Новая"  # the seeded portal is a Russian one
    assert stages[0]["EXTRA"] == {"SEMANTICS": "process", "COLOR": stages[0]["COLOR"]}
    assert set(stages[0]) >= {"ID", "ENTITY_ID", "STATUS_ID", "NAME", "NAME_INIT", "SORT", "SYSTEM"}
    types = call(portal, "crm.status.list", admin, {"filter": {"ENTITY_ID": "CONTACT_TYPE"}})
    assert "CLIENT" in [s["STATUS_ID"] for s in types.json()["result"]]
    everything = call(portal, "crm.status.list", admin, {})
    assert everything.json()["total"] > 50 and len(everything.json()["result"]) == 50
    assert everything.json()["next"] == 50


def test_category_list_names_the_default_pipeline(emu: DevPortal, admin: str) -> None:
    german = emu.add_portal(lang="de")
    body = call(german, "crm.category.list", token_for(german, 1), {"entityTypeId": 2}).json()
    assert body["result"]["categories"][0]["id"] == 0
    assert body["result"]["categories"][0]["name"] == "Allgemein"
    assert body["result"]["categories"][0]["isDefault"] == "Y"
    wrong = call(emu.portal, "crm.category.list", admin, {"entityTypeId": 99})
    assert wrong.status_code == 400 and wrong.json()["error"] == "NOT_FOUND"


def test_user_get_by_ids(portal: Portal) -> None:
    token = token_for(portal, 3)  # any user may list employees
    body = call(portal, "user.get", token, {"FILTER": {"ID": [1, 4]}}).json()
    assert [(u["ID"], u["NAME"], u["LAST_NAME"]) for u in body["result"]] == [
        ("1", "Ivan", "Admin"),
        ("4", "Jonas", "Becker"),
    ]
    assert body["total"] == 2 and body["result"][0]["ACTIVE"] is True
    one = call(portal, "user.get", token, {"filter": {"ID": "2"}}).json()["result"]
    assert [u["EMAIL"] for u in one] == ["manager@portal.example"]
