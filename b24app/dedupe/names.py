"""Name agreement: whether two records with a shared phone or e-mail can be the same party."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from .models import Record

# A name part as compared: its loose Latin skeleton, and whether it was a lone initial.
Part = tuple[str, bool]
_MISSING: Part = ("", False)

_CYRILLIC = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "і": "i",
    "ї": "yi",
    "є": "ye",
    "ґ": "g",
    "ў": "u",
    "ә": "a",
    "ғ": "g",
    "қ": "k",
    "ң": "n",
    "ө": "o",
    "ұ": "u",
    "ү": "u",
    "һ": "h",
}
_CYRILLIC_TABLE = str.maketrans(_CYRILLIC)
_LATIN_EXTRA = str.maketrans(
    {"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ı": "i", "þ": "th", "ð": "d"}
)
# Ordered rewrites that make common romanisations of one name meet. Upper-case letters are
# placeholders for sounds that Latin spells with two or more letters (input is lower-case).
_FOLDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"shch|sch", "Q"),
        (r"t?ch", "C"),
        (r"zh", "Z"),
        (r"kh", "h"),
        (r"sh", "S"),
        (r"ph", "f"),
        (r"c(?![eiy])", "k"),  # a Latin "c" that sounds like "k" (Victor / Виктор)
        (r"t[sz]", "c"),
        (r"x", "ks"),
        (r"w", "v"),
        (r"q", "k"),
        (r"y[eo]", "e"),  # Yevgeny, Pyotr, Semyon, Andreyev
        (r"[yj]", "i"),
        (r"(.)\1+", r"\1"),  # doubled letters and ii / iy endings
    )
)
_JOINERS = re.compile(r"[-‐‑‒–—'’`´ʼ‘]")
_WORD = re.compile(r"[^\W\d_]+")
_TITLE_TOKEN = re.compile(r"[^\W_]+")
_QUOTES = re.compile(r"[\"'«»„“”‹›‚‘’`´＂]")
_PATRONYMIC_ENDINGS = (
    "ович",
    "евич",
    "ьич",
    "овна",
    "евна",
    "ична",
    "инична",
    "ovich",
    "evich",
    "ovitch",
    "evitch",
    "ovna",
    "evna",
    "ichna",
)

LEGAL_FORMS = frozenset(
    {
        "llc",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "plc",
        "llp",
        "lp",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "ug",
        "ohg",
        "ek",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "oyj",
        "ab",
        "as",
        "asa",
        "aps",
        "kft",
        "doo",
        "sro",
        "ltda",
        "pte",
        "pty",
        "ooo",
        "oao",
        "zao",
        "pao",
        "ao",
        "ip",
        "tov",
        "too",
        "fop",
        "ооо",
        "оао",
        "зао",
        "пао",
        "ао",
        "нао",
        "ип",
        "тоо",
        "тов",
        "фоп",
        "пп",
        "чп",
        "нко",
        "ано",
        "уп",
        "гуп",
        "муп",
        "фгуп",
    }
)
LEGAL_PHRASES = (
    ("общество", "с", "ограниченной", "ответственностью"),
    ("товарищество", "с", "ограниченной", "ответственностью"),
    ("индивидуальный", "предприниматель"),
    ("публичное", "акционерное", "общество"),
    ("закрытое", "акционерное", "общество"),
    ("открытое", "акционерное", "общество"),
    ("непубличное", "акционерное", "общество"),
    ("акционерное", "общество"),
    ("limited", "liability", "company"),
    ("limited", "liability", "partnership"),
    ("sp", "z", "oo"),
    ("z", "oo"),
)


class NameKey(NamedTuple):
    """The comparable form of a record's name: person parts, or a company title skeleton."""

    first: Part
    last: Part
    second: Part
    title: str


def _fold_case(raw: str) -> str:
    """NFKC, case folded, with ё as е."""
    return unicodedata.normalize("NFKC", raw or "").casefold().replace("ё", "е")


@lru_cache(maxsize=65536)
def skeleton(text: str) -> str:
    """A loose Latin skeleton of a lower-case name, so Cyrillic and Latin spellings meet."""
    latin = text.translate(_CYRILLIC_TABLE)
    latin = "".join(
        ch for ch in unicodedata.normalize("NFKD", latin) if not unicodedata.combining(ch)
    )
    latin = latin.translate(_LATIN_EXTRA)
    for pattern, replacement in _FOLDS:
        latin = pattern.sub(replacement, latin)
    return latin


def _words(raw: str) -> list[str]:
    """The letter-only words of a name field; hyphens and apostrophes join, the rest splits."""
    return _WORD.findall(_JOINERS.sub("", _fold_case(raw)))


def _part(words: list[str]) -> Part:
    """A name part from its words."""
    if not words:
        return _MISSING
    return skeleton("".join(words)), len(words) == 1 and len(words[0]) == 1


def _is_patronymic(word: str) -> bool:
    """Whether a word looks like a Russian patronymic."""
    return len(word) > 5 and word.endswith(_PATRONYMIC_ENDINGS)


def _split_full_name(words: list[str]) -> tuple[list[str], list[str], list[str]] | None:
    """Two name words (plus an optional patronymic) typed into one field, split in two."""
    patronymics = [w for w in words if _is_patronymic(w)]
    rest = [w for w in words if not _is_patronymic(w)]
    if len(rest) == 2 and len(patronymics) <= 1 and all(len(w) > 1 for w in rest):
        return [rest[0]], [rest[1]], patronymics
    return None


@lru_cache(maxsize=65536)
def person_key(first_name: str, last_name: str, second_name: str) -> NameKey:
    """The comparable form of a person's NAME, LAST_NAME and SECOND_NAME."""
    first, last, second = _words(first_name), _words(last_name), _words(second_name)
    if len(first) > 1 and not last:
        split = _split_full_name(first)
        if split is not None:
            first, last, extra = split
            second = second or extra
    elif len(last) > 1 and not first:
        split = _split_full_name(last)
        if split is not None:
            first, last, extra = split
            second = second or extra
    return NameKey(_part(first), _part(last), _part(second), "")


def latin_spelling(word: str) -> str:
    """A word with its Cyrillic letters transliterated (``альфа`` -> ``alfa``)."""
    return word.translate(_CYRILLIC_TABLE)


def title_words(title: str) -> list[str]:
    """The words of a TITLE without legal forms and quotes, case-folded, as written otherwise."""
    text = _QUOTES.sub(" ", _fold_case(title)).replace(".", "")
    tokens = _TITLE_TOKEN.findall(text)
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        phrase = next((p for p in LEGAL_PHRASES if tuple(tokens[i : i + len(p)]) == p), None)
        if phrase is not None:
            i += len(phrase)
            continue
        if tokens[i] not in LEGAL_FORMS:
            kept.append(tokens[i])
        i += 1
    return kept


@lru_cache(maxsize=65536)
def company_key(title: str) -> NameKey:
    """The comparable form of a company TITLE: no legal form, quotes, case or spacing."""
    return NameKey(_MISSING, _MISSING, _MISSING, skeleton("".join(title_words(title))))


# Titles people leave when a form insists on one; they never tie two records together.
FILLER_TITLES = (
    "test",
    "тест",
    "company",
    "компания",
    "deal",
    "сделка",
    "new deal",
    "новая сделка",
    "lead",
    "лид",
    "new lead",
    "новый лид",
    "new company",
    "новая компания",
    "untitled",
    "без названия",
    "noname",
    "no name",
    "none",
    "нет",
    "na",
    "n/a",
    "xxx",
)


@lru_cache(maxsize=1)
def _filler_skeletons() -> frozenset[str]:
    return frozenset(company_key(title).title for title in FILLER_TITLES)


def title_key(title: str) -> str | None:
    """The matching key of a company or deal TITLE, or None when it is empty or a filler."""
    key = company_key(title or "").title
    if len(key) < 2 or key in _filler_skeletons():
        return None
    return key


def name_key(record: Record, kind: str) -> NameKey:
    """The comparable name of a record of the given kind ("person", "company" or "deal")."""
    if kind in ("company", "deal"):
        return company_key(record.title or "")
    if kind == "person":
        return person_key(record.first_name or "", record.last_name or "", record.second_name or "")
    raise ValueError(f"unknown record kind {kind!r}: expected 'person', 'company' or 'deal'")


def _osa_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment variant)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def typo_limit(length: int) -> int:
    """How many edits a name of this many letters may differ by and still agree."""
    return 2 if length >= 8 else 1 if length >= 4 else 0


def _close(a: str, b: str, *, gendered: bool) -> bool:
    """Whether two different skeletons are one name with a small typo."""
    if a[0] != b[0]:
        return False  # a changed first letter makes another name (Masha / Sasha)
    if gendered and a.endswith("a") != b.endswith("a"):
        return False  # Petrov / Petrova, Aleksandr / Aleksandra, Evgeny / Evgenia
    shortest = min(len(a), len(b))
    limit = typo_limit(shortest)
    if limit == 0 or abs(len(a) - len(b)) > limit:
        return False
    distance = _osa_distance(a, b)
    if distance > limit:
        return False
    if shortest < 6 and len(a) == len(b) and distance == 1 and sorted(a) != sorted(b):
        return False  # one swapped letter in a short name is another name (Lena / Lana)
    return True


def _parts_agree(a: Part, b: Part) -> bool:
    """Whether two name parts can belong to one person; a missing part agrees."""
    (a_text, a_initial), (b_text, b_initial) = a, b
    if not a_text or not b_text or a_text == b_text:
        return True
    if a_initial or b_initial:
        if a_initial and b_initial:
            return False
        return b_text.startswith(a_text) if a_initial else a_text.startswith(b_text)
    return _close(a_text, b_text, gendered=True)


def titles_agree(a: str, b: str) -> bool:
    """Whether two company title skeletons can name one company; an empty one agrees."""
    if not a or not b or a == b:
        return True
    if [c for c in a if c.isdigit()] != [c for c in b if c.isdigit()]:
        return False
    return _close(a, b, gendered=False)


@lru_cache(maxsize=262144)
def keys_agree(a: NameKey, b: NameKey) -> bool:
    """Whether two comparable names do not disagree."""
    if a == b:
        return True
    if a.title or b.title:
        return titles_agree(a.title, b.title)
    a_named = bool(a.first[0] or a.last[0])
    b_named = bool(b.first[0] or b.last[0])
    if not a_named or not b_named:
        return True
    if not _parts_agree(a.second, b.second):
        return False
    if _parts_agree(a.first, b.first) and _parts_agree(a.last, b.last):
        return True
    if all(part[0] for part in (a.first, a.last, b.first, b.last)):
        return _parts_agree(a.first, b.last) and _parts_agree(a.last, b.first)
    return False


def names_agree(a: Record, b: Record, *, kind: str = "person") -> bool:
    """Whether the names of two records do not disagree (persons by default, or companies)."""
    return keys_agree(name_key(a, kind), name_key(b, kind))
