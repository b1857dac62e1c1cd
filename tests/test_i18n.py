"""The UI's catalogue: counted messages in every plural form, and no key the UI asks for missing."""

from __future__ import annotations

import re

import pytest

from b24app.i18n import PLURAL_CATEGORIES, PLURALS, STRINGS, plural, plural_category, strings
from tests.helpers import ROOT

PLACEHOLDER = re.compile(r"\{(\w+)\}")
APP_JS = (ROOT / "b24app/static/app.js").read_text(encoding="utf-8")
TEMPLATE = (ROOT / "templates/app.html").read_text(encoding="utf-8")


def test_counted_messages_have_every_form_of_each_language() -> None:
    assert set(PLURALS) == set(STRINGS) == set(PLURAL_CATEGORIES)
    keys = set(PLURALS["en"])
    for lang, table in PLURALS.items():
        assert set(table) == keys, lang
        for key, forms in table.items():
            assert tuple(forms) == PLURAL_CATEGORIES[lang], (lang, key)
            assert all("{n}" in text for text in forms.values()), (lang, key)


def test_counted_messages_hold_the_same_placeholders_everywhere() -> None:
    for key in PLURALS["en"]:
        expected = set(PLACEHOLDER.findall(PLURALS["en"][key]["other"]))
        for lang, table in PLURALS.items():
            for form, text in table[key].items():
                assert set(PLACEHOLDER.findall(text)) == expected, (lang, key, form)


def test_plain_strings_hold_the_same_placeholders_everywhere() -> None:
    for key, text in STRINGS["en"].items():
        expected = set(PLACEHOLDER.findall(text))
        for lang in ("ru", "de"):
            assert set(PLACEHOLDER.findall(STRINGS[lang][key])) == expected, (lang, key)


@pytest.mark.parametrize(
    ("count", "category"),
    [(0, "many"), (1, "one"), (2, "few"), (4, "few"), (5, "many"), (11, "many"), (12, "many")]
    + [(14, "many"), (21, "one"), (22, "few"), (25, "many"), (101, "one"), (111, "many")],
)
def test_russian_plural_rules(count: int, category: str) -> None:
    assert plural_category("ru", count) == category


def test_plural_picks_the_form() -> None:
    assert plural("en", "groups_found", 1) == "1 duplicate group found"
    assert plural("en", "groups_found", 12) == "12 duplicate groups found"
    assert plural("ru", "among_records", 21) == "21 записи"
    assert plural("ru", "among_records", 70) == "70 записей"
    assert plural("de", "confirm_more", 1) == "…und 1 weitere Gruppe."
    assert strings("ru")["confirm_title_few"].startswith("Объединить {n} группы?")


def test_every_key_the_ui_names_exists() -> None:
    table = strings("en")
    named = set(re.findall(r"\bt\.([a-zA-Z_]+)", APP_JS + TEMPLATE))
    named |= set(re.findall(r"\bt\[\"([a-zA-Z_]+)\"\]", APP_JS))
    missing = sorted(n for n in named if n not in table)
    assert missing == []
    counted = set(re.findall(r'plural\("([a-z_]+)"', APP_JS))
    counted |= {f"confirm_line_{entity}" for entity in ("contact", "lead", "company", "deal")}
    counted.discard("confirm_line_")
    assert counted <= set(PLURALS["en"]), sorted(counted - set(PLURALS["en"]))
