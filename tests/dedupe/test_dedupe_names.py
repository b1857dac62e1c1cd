"""Name agreement for persons (contacts, leads) and companies."""

import pytest

from b24app.dedupe import Record, names_agree, title_key


def person(first: str = "", last: str = "", second: str = "") -> Record:
    """A nameable record with no contact data."""
    return Record(id=1, created=None, first_name=first, last_name=last, second_name=second)


def company(title: str) -> Record:
    """A company record with no contact data."""
    return Record(id=1, created=None, title=title)


AGREE = [
    # same spelling, case, ё/е, spacing and punctuation
    (("Ivan", "Petrov"), ("Ivan", "Petrov")),
    (("ivan", "PETROV"), ("Ivan", "Petrov")),
    (("  Иван ", "Петров."), ("Иван", "Петров")),
    (("Пётр", "Алёшин"), ("Петр", "Алешин")),
    (("Анна-Мария", "Иванова"), ("Анна Мария", "Иванова")),
    # Cyrillic against Latin, with the usual romanisation variants
    (("Иван", "Петров"), ("Ivan", "Petrov")),
    (("Пётр", "Иванов"), ("Petr", "Ivanov")),
    (("Пётр", "Иванов"), ("Pyotr", "Ivanov")),
    (("Юлия", "Смирнова"), ("Yulia", "Smirnova")),
    (("Юлия", "Смирнова"), ("Iuliia", "Smirnova")),
    (("Юлия", "Смирнова"), ("Julia", "Smirnova")),
    (("Юлия", "Смирнова"), ("Yuliya", "Smirnova")),
    (("Алексей", "Щукин"), ("Aleksei", "Shchukin")),
    (("Алексей", "Щукин"), ("Alexey", "Schukin")),
    (("Алексей", "Хорошев"), ("Aleksey", "Khoroshev")),
    (("Алексей", "Хорошев"), ("Alexei", "Horoshev")),
    (("Ксения", "Ильина"), ("Kseniya", "Ilina")),
    (("Ксения", "Ильина"), ("Ksenia", "Ilyina")),
    (("Ксения", ""), ("Xenia", "")),
    (("Евгений", "Цой"), ("Evgeny", "Tsoy")),
    (("Евгений", "Цой"), ("Evgenii", "Tsoi")),
    (("Евгений", "Цой"), ("Yevgeny", "Tsoi")),
    (("Евгений", "Цой"), ("Evgeniy", "Tsoy")),
    (("Жанна", "Чайковская"), ("Zhanna", "Chaikovskaya")),
    (("Дмитрий", "Фёдоров"), ("Dmitry", "Fyodorov")),
    (("Наталья", "Андреева"), ("Natalia", "Andreyeva")),
    (("Михаил", "Виктор"), ("Mikhail", "Victor")),
    (("Сергей", ""), ("Sergey", "")),
    (("Сергей", ""), ("Sergei", "")),
    # small typos in longer names
    (("Ivan", "Petrov"), ("Ivan", "Petorv")),
    (("Ivan", "Petrov"), ("Ivan", "Petrovv")),
    (("Ivan", "Petrov"), ("Ivan", "Ptrov")),
    (("Ekaterina", "Kuznetsova"), ("Ekaterina", "Kuznecova")),
    (("Konstantin", "Vasilyev"), ("Konstatin", "Vasilev")),
    (("Aleksandr", "Sokolov"), ("Alexandre", "Sokolov")),
    # missing parts agree
    (("Ivan", ""), ("Ivan", "Petrov")),
    (("", "Petrov"), ("Ivan", "Petrov")),
    (("Ivan", ""), ("", "Petrov")),
    (("", ""), ("Maria", "Petrova")),
    (("Maria", "Petrova"), ("", "")),
    # swapped first and last name
    (("Petrov", "Ivan"), ("Ivan", "Petrov")),
    (("Петров", "Иван"), ("Ivan", "Petrov")),
    # initials
    (("I.", "Petrov"), ("Ivan", "Petrov")),
    (("И.", "Петров"), ("Ivan", "Petrov")),
    (("Ю.", "Смирнова"), ("Yulia", "Smirnova")),
    # the whole name typed into one field
    (("Иван Петров", ""), ("Иван", "Петров")),
    (("Петров Иван", ""), ("Иван", "Петров")),
    (("Петров Иван Сергеевич", ""), ("Ivan", "Petrov")),
    (("", "Ivan Petrov"), ("Ivan", "Petrov")),
]

DISAGREE = [
    (("Anna", "Smirnova"), ("Oleg", "Smirnov")),
    (("Ivan", "Petrov"), ("Maria", "Petrova")),
    (("Ivan", "Petrov"), ("Oleg", "Petrov")),
    (("Ivan", "Petrov"), ("Ivan", "Sidorov")),
    (("Иван", "Петров"), ("Ivan", "Sidorov")),
    # gendered forms: another person even with a first name missing or the same
    (("", "Petrov"), ("", "Petrova")),
    (("", "Petrov"), ("Maria", "Petrova")),
    (("Ivan", "Petrov"), ("Ivan", "Petrova")),
    (("Александр", "Иванов"), ("Александра", "Иванова")),
    (("Aleksandr", "Ivanov"), ("Aleksandra", "Ivanov")),
    (("Евгений", "Иванов"), ("Евгения", "Иванов")),
    (("", "Вишневский"), ("", "Вишневская")),
    # short names: no typo tolerance below four letters, no single letter swap below six
    (("Ян", "Ким"), ("Ян", "Кин")),
    (("Anna", "Ivanova"), ("Inna", "Ivanova")),
    (("Lena", "Ivanova"), ("Lana", "Ivanova")),
    (("Dima", "Ivanov"), ("Dina", "Ivanov")),
    (("Маша", "Иванова"), ("Саша", "Иванова")),
    (("Олег", ""), ("Ольга", "")),
    # a changed first letter is another name
    (("Marina", "Ivanova"), ("Karina", "Ivanova")),
    # beyond two edits
    (("Konstantin", "Ivanov"), ("Konstanza", "Ivanov")),
    # initials
    (("I.", "Petrov"), ("Oleg", "Petrov")),
    (("I.", "Petrov"), ("O.", "Petrov")),
    # a swap only counts with all four parts present
    (("Petrov", ""), ("Ivan", "Petrov")),
    # scripts without a transliteration are compared as written
    (("王", "伟"), ("李", "娜")),
]


@pytest.mark.parametrize(("a", "b"), AGREE)
def test_names_that_agree(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert names_agree(person(*a), person(*b))
    assert names_agree(person(*b), person(*a))


@pytest.mark.parametrize(("a", "b"), DISAGREE)
def test_names_that_disagree(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert not names_agree(person(*a), person(*b))
    assert not names_agree(person(*b), person(*a))


@pytest.mark.parametrize(
    ("a", "b", "agree"),
    [
        (("Ivan", "Petrov", "Sergeevich"), ("Ivan", "Petrov", "Sergeyevich"), True),
        (("Ivan", "Petrov", "Sergeevich"), ("Ivan", "Petrov", ""), True),
        (("Ivan", "Petrov", "С."), ("Ivan", "Petrov", "Сергеевич"), True),
        (("Ivan", "Petrov", "Sergeevich"), ("Ivan", "Petrov", "Ivanovich"), False),
        (("", "", "Sergeevich"), ("Oleg", "Sidorov", "Ivanovich"), True),
    ],
)
def test_patronymic_only_vetoes_when_both_present(
    a: tuple[str, str, str], b: tuple[str, str, str], agree: bool
) -> None:
    assert names_agree(person(*a), person(*b)) is agree


def test_title_is_not_a_person_name() -> None:
    a = Record(id=1, created=None, first_name="Ivan", title="Заявка с сайта")
    b = Record(id=2, created=None, first_name="Ivan", title="Звонок")
    assert names_agree(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ООО «Ромашка»", "Romashka LLC"),
        ('"Ромашка" ООО', "ромашка"),
        ("Общество с ограниченной ответственностью „Ромашка“", "ООО Ромашка"),
        ("ЗАО ‹Ромашка›", "AO 'Romashka'"),
        ("Romashka GmbH", "ROMASHKA AG"),
        ("Acme, Inc.", "ACME Ltd"),
        ("Acme S.A.", "acme sa"),
        ("Acme Sp. z o.o.", "Acme"),
        ("ИП Иванов", "IP Ivanov"),
        ("Стройтрест-5", "Stroytrest 5"),
        ("Romashka Plus", "RomashkaPlus"),
        ("Romashka Trading", "Romashka Tradng"),
        ("", "Romashka"),
        ("ООО", "Romashka"),
    ],
)
def test_company_titles_that_agree(a: str, b: str) -> None:
    assert names_agree(company(a), company(b), kind="company")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ООО Ромашка", "ООО Лютик"),
        ("Стройтрест-5", "Стройтрест-6"),
        ("Alfa", "Alta"),
        ("Acme", "Acme Trading"),
    ],
)
def test_company_titles_that_disagree(a: str, b: str) -> None:
    assert not names_agree(company(a), company(b), kind="company")


def test_company_kind_ignores_person_names() -> None:
    a = Record(id=1, created=None, first_name="Ivan", title="Romashka")
    b = Record(id=2, created=None, first_name="Oleg", title="Ромашка")
    assert names_agree(a, b, kind="company")
    assert not names_agree(a, b)


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        names_agree(person("Ivan"), person("Ivan"), kind="invoice")


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("ООО «Ромашка»", "romaSka"),
        ("Romashka LLC", "romaSka"),
        ('"Romashka" Ltd.', "romaSka"),
        ("  ROMASHKA  ", "romaSka"),
        ("ТОО «Вектор»", "vektor"),
        ("Vector GmbH", "vektor"),
        ("Общество с ограниченной ответственностью «Лютик»", "liutik"),
        ("Стройтрест-5", "stroitrest5"),
        ("Test", None),
        ("ООО", None),
        ("-", None),
        ("Без названия", None),
        ("Сделка", None),
        ("", None),
    ],
)
def test_title_key(title: str, key: str | None) -> None:
    assert title_key(title) == key
