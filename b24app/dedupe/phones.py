"""Phone normalisation: the key two records must share to match on phone."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

# Bitrix24 portal languages that name a single country.
_LANGUAGE_REGIONS = {"ru": "RU", "de": "DE", "ua": "UA", "by": "BY", "kz": "KZ", "pl": "PL"}

# An extension written after the number: ";ext=12", "ext. 12", "доб. 12", "вн. 12", "x12", "#12",
# ",12". The extension is part of the key, so it must be cut off before the number is parsed.
_EXTENSION = re.compile(
    r"(?:;\s*ext\s*=|ext(?:ension|n)?\.?|доб(?:авочный)?\.?|вн(?:утр(?:енний)?)?\.?|[xх#,])"
    r"\s*:?\s*(\d{1,10})\s*$",
    re.IGNORECASE,
)
_NON_DIGITS = re.compile(r"\D")
_ASCENDING = "01234567890123456789"
_DESCENDING = "98765432109876543210"

MIN_DIGITS = 5
# A subscriber part of seven or more zeros ("+7 900 000-00-00") is a placeholder.
MIN_TRAILING_ZEROS = 7


def region_for_language(lang: str | None) -> str | None:
    """The default phone region for a portal language, or None for a language of many countries."""
    if not lang:
        return None
    primary = re.split(r"[-_]", lang.strip().lower(), maxsplit=1)[0]
    return _LANGUAGE_REGIONS.get(primary)


def _is_filler_digits(digits: str) -> bool:
    """Whether a digit string is a placeholder: too short, one repeated digit, a run, zeros."""
    if len(digits) < MIN_DIGITS:
        return True
    if len(set(digits)) == 1:
        return True
    if digits in _ASCENDING or digits in _DESCENDING:
        return True
    return len(digits) - len(digits.rstrip("0")) >= MIN_TRAILING_ZEROS


def _is_filler_unparsed(digits: str) -> bool:
    """Filler test for digits of unknown country: also look past a country code or trunk prefix."""
    if _is_filler_digits(digits):
        return True
    if digits[1:] in _ASCENDING or digits[1:] in _DESCENDING:
        return True
    return any(len(set(digits[cut:])) == 1 for cut in (1, 2, 3) if len(digits) - cut >= 6)


def _known_region(region: str | None) -> str | None:
    """The upper-cased region when phonenumbers knows it, else None."""
    if not region:
        return None
    upper = region.strip().upper()
    return upper if upper in phonenumbers.SUPPORTED_REGIONS else None


def normalize_phone(raw: str, default_region: str | None) -> str | None:
    """The matching key of a phone value (E.164 plus extension), or None for an empty or filler."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    extension = ""
    found = _EXTENSION.search(text)
    if found is not None:
        extension = found.group(1)
        text = text[: found.start()].strip()
    digits = _NON_DIGITS.sub("", text)
    if len(digits) < MIN_DIGITS:
        return None
    if text[:4].lower() == "tel:":
        text = text[4:].strip()
    lead = text.lstrip("([ ")
    international = lead.startswith("+")
    if not international and lead.startswith("00") and not digits.startswith("000"):
        international, digits = True, digits[2:]
    region = _known_region(default_region)
    key: str | None = None
    if international or region is not None:
        try:
            number = phonenumbers.parse(
                "+" + digits if international else digits, None if international else region
            )
        except phonenumbers.NumberParseException:
            number = None
        if number is not None:
            national = phonenumbers.national_significant_number(number)
            if _is_filler_digits(national) or _is_filler_digits(digits):
                return None
            key = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            extension = extension or (number.extension or "")
    if key is None:
        if _is_filler_unparsed(digits):
            return None
        key = ("digits:+" if international else "digits:") + digits
    return f"{key};ext={extension}" if extension else key
