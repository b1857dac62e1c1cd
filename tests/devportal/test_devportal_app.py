"""What the portal sends to the app: frame POSTs, install/update/uninstall events; pages."""

from __future__ import annotations

import json
import re
from typing import Any

import requests
from devportal_support import CLIENT_ID, call, token_for

from b24app.devportal import SEED_COUNTS, SEED_GROUPS, SEED_SHARED, DevPortal, Portal


def test_frame_post_contents(emu: DevPortal, portal: Portal, receiver: Any) -> None:
    post = portal.frame_post(2, "CRM_CONTACT_LIST_MENU", {"ID": "7"})
    assert post.url == receiver.url + "/app"
    assert post.query["DOMAIN"] == portal.domain and post.query["PROTOCOL"] == "0"
    assert post.query["LANG"] == "en" and post.query["APP_SID"]  # user 2 works in English
    form = post.form
    assert set(form) == {
        "AUTH_ID",
        "AUTH_EXPIRES",
        "REFRESH_ID",
        "SERVER_ENDPOINT",
        "APPLICATION_SCOPE",
        "member_id",
        "status",
        "PLACEMENT",
        "PLACEMENT_OPTIONS",
    }  # no APPLICATION_TOKEN before the portal has one
    assert form["SERVER_ENDPOINT"] == emu.oauth_url + "/rest/"
    assert form["AUTH_EXPIRES"] == "3600" and form["status"] == "L"
    assert json.loads(form["PLACEMENT_OPTIONS"]) == {"ID": "7"}
    assert call(portal, "user.current", form["AUTH_ID"]).json()["result"]["ID"] == "2"
    install = portal.frame_post(1, install=True)
    assert install.url == receiver.url + "/install" and install.form["PLACEMENT"] == "DEFAULT"
    response = post.send()
    assert response.status_code == 200
    sent = receiver.requests[-1]
    assert sent["path"] == "/app" and sent["args"]["DOMAIN"] == portal.domain
    assert sent["form"]["PLACEMENT"] == "CRM_CONTACT_LIST_MENU"


def test_install_event(emu: DevPortal, portal: Portal, receiver: Any) -> None:
    response = portal.send_install_event()
    assert response.status_code == 200 and portal.installed
    sent = receiver.requests[-1]
    assert sent["path"] == "/install"
    assert sent["content_type"] == "application/x-www-form-urlencoded"
    form = sent["form"]
    assert form["event"] == "ONAPPINSTALL" and form["data[LANGUAGE_ID]"] == "ru"
    assert form["auth[application_token]"] == portal.application_token
    assert form["auth[member_id]"] == portal.member_id and form["auth[domain]"] == portal.domain
    assert form["auth[client_endpoint]"] == portal.url + "/rest/"
    assert call(portal, "profile", form["auth[access_token]"]).json()["result"]["ADMIN"] is True
    later = portal.frame_post(2)
    assert later.form["APPLICATION_TOKEN"] == portal.application_token


def test_update_and_uninstall_events(emu: DevPortal, portal: Portal, receiver: Any) -> None:
    portal.send_install_event()
    admin = token_for(portal, 1)
    for event in ("ONAPPUPDATE", "ONAPPUNINSTALL"):
        call(portal, "event.bind", admin, {"event": event, "handler": receiver.url + "/events"})
    call(
        portal,
        "placement.bind",
        admin,
        {
            "PLACEMENT": "CRM_CONTACT_LIST_TOOLBAR",
            "HANDLER": receiver.url + "/app",
            "TITLE": "Duplicates",
        },
    )
    app_token = portal.application_token
    update = portal.send_update_event("2")
    assert update is not None and update.status_code == 200
    form = receiver.requests[-1]["form"]
    assert form["event"] == "ONAPPUPDATE" and form["data[VERSION]"] == "2"
    assert form["data[PREVIOUS_VERSION]"] == "1" and form["auth[access_token]"]
    assert form["auth[application_token]"] == app_token
    uninstall = portal.uninstall(clean=True)
    assert uninstall is not None and uninstall.status_code == 200
    form = receiver.requests[-1]["form"]
    assert form["event"] == "ONAPPUNINSTALL" and form["data[CLEAN]"] == "1"
    assert form["auth[application_token]"] == app_token
    assert "auth[access_token]" not in form and "auth[refresh_token]" not in form
    assert portal.placements == [] and portal.event_handlers == [] and not portal.installed
    assert call(portal, "profile", admin).json()["error"] == "invalid_token"


def test_frame_endpoints(emu: DevPortal, portal: Portal, receiver: Any) -> None:
    session = requests.Session()
    params = session.post(
        f"{portal.url}/_emu/frame-params",
        json={"placement": "DEFAULT", "install": True},
        timeout=10,
    ).json()
    assert params["frameName"] == f"{portal.domain}|0|{params['sid']}"
    assert params["appOrigin"] == receiver.url
    init = params["init"]
    assert set(init) == {
        "AUTH_ID",
        "REFRESH_ID",
        "AUTH_EXPIRES",
        "DOMAIN",
        "PROTOCOL",
        "PATH",
        "LANG",
        "MEMBER_ID",
        "IS_ADMIN",
        "APP_OPTIONS",
        "USER_OPTIONS",
        "PLACEMENT",
        "PLACEMENT_OPTIONS",
        "INSTALL",
        "FIRST_RUN",
    }
    assert init["PROTOCOL"] == 0 and init["INSTALL"] is True and init["FIRST_RUN"] is True
    assert params["action"].startswith(receiver.url + "/install?")
    fresh = session.post(f"{portal.url}/_emu/frame/{params['sid']}/refresh", timeout=10).json()
    assert fresh["AUTH_ID"] != init["AUTH_ID"]
    assert call(portal, "profile", fresh["AUTH_ID"]).status_code == 200
    done = session.post(f"{portal.url}/_emu/frame/{params['sid']}/install-finish", timeout=10)
    assert done.json() == {"installed": True} and portal.installed
    # a non-admin may not install
    other = requests.post(
        f"{portal.url}/_emu/frame-params",
        json={"install": True},
        cookies={"b24emu_user": "2"},
        timeout=10,
    )
    assert other.status_code == 403


def test_pages_render(emu: DevPortal, portal: Portal, receiver: Any) -> None:
    portal.installed = True
    admin = token_for(portal, 1)
    call(
        portal,
        "placement.bind",
        admin,
        {
            "PLACEMENT": "CRM_CONTACT_LIST_MENU",
            "HANDLER": receiver.url + "/app",
            "TITLE": "Find duplicates",
        },
    )
    for path in (
        "/",
        "/marketplace/local/",
        "/crm/contact/list/",
        "/crm/lead/list/",
        "/crm/company/list/",
        "/crm/deal/list/",
        "/crm/contact/details/5/",
    ):
        response = requests.get(portal.url + path, timeout=10)
        assert response.status_code == 200, path
        assert "b24emu-config" in response.text
    listing = requests.get(portal.url + "/crm/contact/list/", timeout=10).text
    assert "Find duplicates" in listing and "Иван" in listing
    merge = requests.get(portal.url + "/crm/contact/merge/?id=3,7", timeout=10)
    assert 'id="b24emu-merge-page"' in merge.text.replace("'", '"')
    assert "data-ids='3,7'" in merge.text
    assert portal.page_visits[-1] == "/crm/contact/merge/?id=3,7"
    assert requests.get(portal.url + "/crm/contact/details/999/", timeout=10).status_code == 404
    assert CLIENT_ID in requests.get(portal.url + "/marketplace/local/", timeout=10).text


def test_seed_groups_merge_as_documented(emu: DevPortal, portal: Portal) -> None:
    admin = token_for(portal, 1)
    for group in SEED_GROUPS:
        dates = [portal.records(group.entity_type_id)[i]["DATE_CREATE"] for i in group.ids]
        assert dates == sorted(dates), group.name
        response = call(
            portal,
            "crm.entity.mergeBatch",
            admin,
            {"params": {"entityTypeId": group.entity_type_id, "entityIds": list(group.ids)}},
        )
        assert response.json()["result"]["STATUS"] == group.merge_status, group.name
    assert len(portal.records(3)) == SEED_COUNTS[3] - sum(
        len(g.ids) - 1 for g in SEED_GROUPS if g.entity_type_id == 3 and g.merge_status == "SUCCESS"
    )


def test_seed_shared_values_exist(emu: DevPortal, portal: Portal) -> None:
    for shared in SEED_SHARED:
        records = portal.records(shared.entity_type_id)
        names = {
            (records[i].get("NAME"), records[i].get("LAST_NAME"), records[i].get("TITLE"))
            for i in shared.ids
        }
        assert len(shared.ids) == 2
        if shared.shared != "phone_extension":
            assert len(names) == 2, shared.note
    assert {t: len(portal.records(t)) for t in SEED_COUNTS} == SEED_COUNTS


def test_widget_titles_follow_each_users_language(portal: Portal, receiver: Any) -> None:
    """LANG_ALL titles are shown to users of that language; the others see TITLE."""
    portal.installed = True
    call(
        portal,
        "placement.bind",
        token_for(portal, 1),
        {
            "PLACEMENT": "CRM_CONTACT_LIST_TOOLBAR",
            "HANDLER": receiver.url + "/app",
            "TITLE": "Find duplicates",
            "LANG_ALL": {"ru": {"TITLE": "Найти дубликаты"}, "de": {"TITLE": "Duplikate finden"}},
        },
    )
    portal.users[3].lang = "pl"  # a language the app gave no title for
    seen = {}
    for user in (1, 2, 3, 4):
        page = requests.get(
            portal.url + "/crm/contact/list/", cookies={"b24emu_user": str(user)}, timeout=10
        ).text
        seen[user] = re.search(r"<button class='menu-item'[^>]*>([^<]*)</button>", page).group(1)
    assert seen == {
        1: "Найти дубликаты",  # the admin uses the portal's language, ru
        2: "Find duplicates",  # en has no LANG_ALL entry: TITLE
        3: "Find duplicates",
        4: "Duplikate finden",
    }
    assert portal.frame_post(4).query["LANG"] == "de"
