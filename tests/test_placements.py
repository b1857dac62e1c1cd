"""From each of the eight bound placements a user reaches the right scan (POST /app + the API)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from b24app.devportal import SEED_GROUPS
from tests.helpers import Stack

TYPES = {"LEAD": 1, "DEAL": 2, "CONTACT": 3, "COMPANY": 4}
# The clicked row of each list menu, and the one group it belongs to.
ROWS = {
    "LEAD": (8, [7, 8]),
    "DEAL": (2, [1, 2]),
    "CONTACT": (65, [64, 65, 66, 67, 68]),
    "COMPANY": (13, [12, 13]),
}


def _context(html: str) -> dict[str, Any]:
    raw = html.split('id="b24app-context">', 1)[1].split("</script>", 1)[0]
    context = json.loads(raw)
    assert isinstance(context, dict)
    return context


def _scan_as_the_page_does(stack: Stack, token: str, context: dict[str, Any]) -> dict[str, Any]:
    body = {"entityTypeId": context["entityTypeId"]}
    if context["seedId"]:
        body["seedId"] = context["seedId"]
    return stack.scan(token, **body)


@pytest.mark.parametrize("entity", sorted(TYPES))
def test_list_toolbar_scans_its_whole_type(installed: Stack, entity: str) -> None:
    placement = f"CRM_{entity}_LIST_TOOLBAR"
    assert installed.portal.handler_for(placement) == f"{installed.url}/app"
    opened = installed.open(2, placement, {"URI": f"/crm/{entity.lower()}/list/"})
    assert opened.response.status_code == 200 and opened.token
    context = _context(opened.response.text)
    assert context == {"entityTypeId": TYPES[entity], "seedId": None, "kind": "list"}
    scan = _scan_as_the_page_does(installed, opened.token, context)
    assert scan["status"] == "done", scan
    expected = sorted(list(g.ids) for g in SEED_GROUPS if g.entity_type_id == TYPES[entity])
    assert sorted(g["entityIds"] for g in scan["groups"]) == expected
    assert scan["entityTypeId"] == TYPES[entity]


@pytest.mark.parametrize("entity", sorted(TYPES))
def test_list_menu_finds_the_duplicates_of_the_clicked_row(installed: Stack, entity: str) -> None:
    placement = f"CRM_{entity}_LIST_MENU"
    assert installed.portal.handler_for(placement) == f"{installed.url}/app"
    row, group = ROWS[entity]
    opened = installed.open(2, placement, {"ID": str(row), "URI": f"/crm/{entity.lower()}/list/"})
    assert opened.response.status_code == 200 and opened.token
    context = _context(opened.response.text)
    assert context == {"entityTypeId": TYPES[entity], "seedId": row, "kind": "record"}
    scan = _scan_as_the_page_does(installed, opened.token, context)
    assert scan["status"] == "done", scan
    assert [g["entityIds"] for g in scan["groups"]] == [group]
    assert scan["seedId"] == row
