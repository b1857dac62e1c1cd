"""Phone normalisation and the portal-language default region."""

import pytest

from b24app.dedupe import normalize_phone, region_for_language

MOSCOW = "+74951234567"
MOBILE = "+79001234567"


@pytest.mark.parametrize(
    "raw",
    [
        "+7 (900) 123-45-67",
        "8 900 123 45 67",
        "+7-900-123-4567",
        "9001234567",
        "79001234567",
        "8(900)1234567",
        " +7 900 123 45 67 ",
        "tel:+79001234567",
    ],
)
def test_russian_number_written_many_ways_is_one_key(raw: str) -> None:
    assert normalize_phone(raw, "RU") == MOBILE


def test_case_15_stored_format_and_incoming_formats_meet() -> None:
    # CASE-15 stores "+7 (900) 000-00-00" and looks it up as "8 900 000 00 00", "+7-900-000-0000"
    # and "9000000000". A subscriber part of zeros is a placeholder here (never grouped), so the
    # same shapes are checked with a real-looking number: all of them must give one E.164 key.
    stored = normalize_phone("+7 (900) 123-45-67", "RU")
    incoming = [
        normalize_phone(v, "RU") for v in ("8 900 123 45 67", "+7-900-123-4567", "9001234567")
    ]
    assert stored == MOBILE
    assert incoming == [MOBILE, MOBILE, MOBILE]
    assert normalize_phone("+7 (900) 000-00-00", "RU") is None


@pytest.mark.parametrize(
    ("raw", "region", "key"),
    [
        ("030 1234567", "DE", "+49301234567"),
        ("(030) 123 45 67", "DE", "+49301234567"),
        ("+49 30 1234567", "DE", "+49301234567"),
        ("0049 30 1234567", "DE", "+49301234567"),
        ("+49 (0)30 1234567", "DE", "+49301234567"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("030 1234567", "de", "+49301234567"),
        ("8 10 49 30 1234567", "RU", "+49301234567"),
    ],
)
def test_german_numbers(raw: str, region: str, key: str) -> None:
    assert normalize_phone(raw, region) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("+7 900 123-45-67", MOBILE),
        ("+49 30 1234567", "+49301234567"),
        ("0049 30 1234567", "+49301234567"),
        ("+1 (650) 253-0001", "+16502530001"),
    ],
)
def test_international_numbers_parse_without_a_region(raw: str, key: str) -> None:
    assert normalize_phone(raw, None) == key


@pytest.mark.parametrize(
    ("raw", "region", "key"),
    [
        ("8 900 123-45-67", None, "digits:89001234567"),
        ("900 123 45 67", None, "digits:9001234567"),
        ("030 1234567", None, "digits:0301234567"),
        ("8 900 123-45-67", "XX", "digits:89001234567"),  # unknown region: no guessing
        ("030 1234567", "", "digits:0301234567"),
    ],
)
def test_no_region_and_no_country_code_compares_digits_as_written(
    raw: str, region: str | None, key: str
) -> None:
    assert normalize_phone(raw, region) == key


def test_no_region_never_guesses_a_country() -> None:
    assert normalize_phone("8 900 123-45-67", None) != normalize_phone("+7 900 123-45-67", None)
    assert normalize_phone("8 900 123-45-67", None) != normalize_phone("900 123 45 67", None)


@pytest.mark.parametrize(
    "raw",
    [
        "+7 495 123-45-67 ext. 12",
        "+7 495 123-45-67 ext 12",
        "+7 495 123-45-67 EXT.12",
        "+7 495 123-45-67 extension 12",
        "+7 495 123-45-67 доб. 12",
        "+7 495 123-45-67 доб 12",
        "+7 495 123-45-67 добавочный 12",
        "+7 495 123-45-67 вн. 12",
        "+7 495 123-45-67 #12",
        "+7 495 123-45-67#12",
        "+7 495 123-45-67 x12",
        "+74951234567x12",
        "+7 495 123-45-67 х 12",  # Cyrillic "х"
        "+7 495 123-45-67,12",
        "+74951234567;ext=12",
        "8 (495) 123-45-67 доб. 12",
    ],
)
def test_extension_notations(raw: str) -> None:
    assert normalize_phone(raw, "RU") == MOSCOW + ";ext=12"


def test_extension_is_part_of_the_key() -> None:
    plain = normalize_phone("+7 495 123-45-67", "RU")
    ext_12 = normalize_phone("+7 495 123-45-67 доб. 12", "RU")
    ext_99 = normalize_phone("+7 495 123-45-67 доб. 99", "RU")
    assert plain == MOSCOW
    assert len({plain, ext_12, ext_99}) == 3


def test_case_13_same_main_number_different_extensions_differ() -> None:
    assert normalize_phone("+70000000001#12", "RU") == "+70000000001;ext=12"
    assert normalize_phone("+70000000001#99", "RU") == "+70000000001;ext=99"


@pytest.mark.parametrize(
    ("raw", "region", "key"),
    [
        ("+0 495 7712 83", None, "digits:+0495771283"),
        ("+0 495 7712 83", "RU", "digits:+0495771283"),
        ("9001234567 4951234567 4957654321", "RU", "digits:900123456749512345674957654321"),
        ("52 61 73 84 95", None, "digits:5261738495"),
    ],
)
def test_unparseable_numbers_keep_their_digits(raw: str, region: str | None, key: str) -> None:
    assert normalize_phone(raw, region) == key


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", "RU"),
        ("   ", "RU"),
        ("-", "RU"),
        ("none", "RU"),
        ("n/a", None),
        ("нет", "RU"),
        ("123", "RU"),
        ("12-34", None),
        ("+7 000 000-00-00", "RU"),
        ("8 000 000 00 00", "RU"),
        ("8 000 000 00 00", None),
        ("+7 999 999-99-99", "RU"),
        ("7 111 111 11 11", None),
        ("1111111", None),
        ("1111111", "RU"),
        ("00000", "DE"),
        ("1234567", "RU"),
        ("1234567", None),
        ("123456789", "RU"),
        ("0123456789", "DE"),
        ("+7 123 456-78-90", "RU"),
        ("987654321", None),
        ("+7 900 000-00-00", "RU"),
        ("#12", "RU"),
        ("доб. 12", "RU"),
    ],
)
def test_fillers_are_not_keys(raw: str, region: str | None) -> None:
    assert normalize_phone(raw, region) is None


@pytest.mark.parametrize(
    ("lang", "region"),
    [
        ("ru", "RU"),
        ("de", "DE"),
        ("ua", "UA"),
        ("by", "BY"),
        ("kz", "KZ"),
        ("pl", "PL"),
        ("RU", "RU"),
        (" de ", "DE"),
        ("ru-RU", "RU"),
        ("en", None),
        ("es", None),
        ("la", None),
        ("pt", None),
        ("br", None),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_region_for_language(lang: str | None, region: str | None) -> None:
    assert region_for_language(lang) == region
