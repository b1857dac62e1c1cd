"""E-mail normalisation."""

import pytest

from b24app.dedupe import normalize_email


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("ivan@mail.ru", "ivan@mail.ru"),
        ("  Ivan@Mail.RU ", "ivan@mail.ru"),
        ("IVAN.PETROV@GMAIL.COM", "ivan.petrov@gmail.com"),
        ("ivan.petrov+crm@gmail.com", "ivan.petrov+crm@gmail.com"),  # plus tag kept
        ("mailto:ivan@mail.ru", "ivan@mail.ru"),
        ("<ivan@mail.ru>", "ivan@mail.ru"),
        ("info@ромашка.рф", "info@ромашка.рф"),
        ("a@mail.co", "a@mail.co"),
    ],
)
def test_addresses(raw: str, key: str) -> None:
    assert normalize_email(raw) == key


def test_dots_and_plus_tags_are_not_folded() -> None:
    assert normalize_email("ivan.petrov@gmail.com") != normalize_email("ivanpetrov@gmail.com")
    assert normalize_email("ivan+a@gmail.com") != normalize_email("ivan@gmail.com")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "-",
        "нет",
        "ivan",
        "ivan@",
        "@mail.ru",
        "ivan@mail",
        "ivan@@mail.ru",
        "ivan@mail.ru, petr@mail.ru",
        "ivan petrov@mail.ru",
        "ivan@mail..ru",
        "ivan@.mail.ru",
        "ivan@mail.ru.",
        "a@a.a",
        "x@y.ru",
        "test@test.com",
        "test@example.com",
        "Example@Example.com",
        "ivan@example.com",
        "ivan@example.org",
        "ivan@mail.example.com",
        "ivan@test.com",
        "ivan@site.test",
        "ivan@host.invalid",
        "noreply@company.ru",
        "no-reply@company.ru",
        "do-not-reply@company.ru",
        "test@gmail.com",
        "none@mail.ru",
    ],
)
def test_fillers_and_malformed_values_are_not_keys(raw: str) -> None:
    assert normalize_email(raw) is None
