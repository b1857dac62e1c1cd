"""Deterministic demo CRM data with documented duplicate groups.

The seeded portal's language is ``ru`` by default, so phone numbers without a country code
(``8 912 ...``) read as Russian ones. IDs below are the seeded IDs; in every group the first ID
is the oldest record (earliest ``DATE_CREATE``), the one an app should propose to keep.

Contacts (entity type 3):

==========  ================  =========  ======  ==========================================
group       IDs               matched    merge   what it exercises
==========  ================  =========  ======  ==========================================
petrov      1, 2, 3, 4        phone,     CONFL.  four phone spellings, Cyrillic vs Latin
                              email              name, a record without NAME, e-mail case
smirnova    5, 6              phone,     OK      6 brings BIRTHDATE, 5 brings POST
                              email
ivanova     7, 8, 9           phone,     OK      transitive: 7~8 by phone, 8~9 by e-mail
                              email
kuznetsov   10, 11            phone      CONFL.  same person, different POST
sokolov     12, 14            phone      OK      same number and same extension (ext. 12)
volkov      16, 18            email      OK      e-mail with trailing space
lebedeva    17, 19            phone      OK      mobile written two ways
semenov     22, 23            email      CONFL.  "Пётр Семёнов" vs "Петр Семенов" (ё/е)
kuznetsova  25, 24            email      OK      24 has no NAME; mixed-case e-mail; 25 is
                                                 older although its ID is higher
fedorov     26, 27            phone      CONFL.  "Nikolai" vs "Nikolay" (small typo); both
                                                 created at one instant: the lower ID first
orlova      28, 29, 30        email,     OK      three records, spaces and upper case
                              phone
lisitsyn    64, 65, 66,       phone      CONFL.  one mobile written five ways; Григорий,
            67, 68                               Grigory, no NAME, the initial "Г."
==========  ================  =========  ======  ==========================================

Pairs that share a value but are NOT duplicates (a correct app keeps them apart, listed as
``shared``): 12, 13, 14, 15 pairwise across names (phone_extension: one office number, extensions
12, 99, 98; 12/14 share ext. 12 and are a group, 13/15 are one person with two extensions, so a
person judges), 16/17 (office line shared by Pavel Volkov and Tatiana Lebedeva; it must not fuse
the groups volkov and lebedeva), 20/21 (family mailbox of two different people), 61/62/63 (three
people on one company switchboard, written three ways). 31/32 have the same name and share
nothing. 69/70 hold only fillers (``+7 900 000-00-00``, ``test@test.com``): no group, no pair,
4 ignored values. Contacts 33-60 are unique.

Leads (1):

==============  ======  =====  ======  ============================================
group           IDs     on     merge   what it exercises
==============  ======  =====  ======  ============================================
lead-petrov     1, 2    phone  OK      two spellings of one number
lead-kovaleva   7, 8    email  CONFL.  Мария Ковалёва vs Maria Kovaleva, e-mail case
==============  ======  =====  ======  ============================================

Shared: 9/10 (family mailbox, Oleg Sidorov and Irina Sidorova), 11/12 (Anton Belov twice, one
main number with extensions 101 and 102: phone_extension, never grouped). 4/6 have the same
name and share nothing; 13/14 hold only fillers (``0000000``, ``noreply@example.com``).

Companies (4), grouped by phone, e-mail and title (legal forms and quotes aside):

==========  ======  ===========  ======  ============================================
group       IDs     on           merge   what it exercises
==========  ======  ===========  ======  ============================================
romashka    1, 2    phone,title  OK      same title, 2 has no INDUSTRY
vector      3, 5    phone,title  CONFL.  different INDUSTRY
alfa-stroy  6, 7    title        CONFL.  ООО «Альфа-Строй» vs Alfa-Stroy LLC, other phones
ivanov-ip   12, 13  email,title  CONFL.  ИП Иванов vs "Ivanov" GmbH
==========  ======  ===========  ======  ============================================

Shared: 8/9 (Стройтрест-5 and Стройтрест-6 on one number: the digits differ). 10/11 are "Test"
with filler phone and e-mail: no group, no pair.

Deals (2), grouped by title plus the same client (the company, else the contact):

=============  ======  ======  ============================================
group          IDs     merge   what it exercises
=============  ======  ======  ============================================
deal-redesign  1, 2    OK      same title and contact
deal-rollout   4, 5    CONFL.  same title and company, other OPPORTUNITY
deal-supply    7, 8    CONFL.  Поставка оборудования vs Postavka oborudovaniya
=============  ======  ======  ============================================

Near misses: deal 3 has the title of 1 but another contact; 9 the title of 7 but another
company; 12 the title of 1 and no client; 10/11 share a contact but their title is the filler
"Сделка".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .portal import Portal


@dataclass(frozen=True)
class SeedGroup:
    """A seeded duplicate group: IDs in keep order and the outcome of mergeBatch (as admin)."""

    name: str
    entity_type_id: int
    ids: tuple[int, ...]
    matched_on: tuple[str, ...]
    merge_status: str
    note: str


@dataclass(frozen=True)
class SeedShared:
    """Seeded records that share a phone or e-mail but are different people."""

    entity_type_id: int
    ids: tuple[int, ...]
    shared: str
    note: str


SEED_GROUPS: tuple[SeedGroup, ...] = (
    SeedGroup(
        "petrov",
        3,
        (1, 2, 3, 4),
        ("phone", "email"),
        "CONFLICT",
        "phone spellings, Иван vs Ivan, a record without NAME",
    ),
    SeedGroup("smirnova", 3, (5, 6), ("phone", "email"), "SUCCESS", "empty fields filled"),
    SeedGroup(
        "ivanova",
        3,
        (7, 8, 9),
        ("phone", "email"),
        "SUCCESS",
        "transitive chain: 7~8 phone, 8~9 e-mail",
    ),
    SeedGroup("kuznetsov", 3, (10, 11), ("phone",), "CONFLICT", "different POST"),
    SeedGroup("sokolov", 3, (12, 14), ("phone",), "SUCCESS", "same extension"),
    SeedGroup("volkov", 3, (16, 18), ("email",), "SUCCESS", "trailing space in e-mail"),
    SeedGroup("lebedeva", 3, (17, 19), ("phone",), "SUCCESS", "mobile written two ways"),
    SeedGroup("semenov", 3, (22, 23), ("email",), "CONFLICT", "ё vs е in NAME"),
    SeedGroup(
        "kuznetsova", 3, (25, 24), ("email",), "SUCCESS", "missing first name; older higher ID"
    ),
    SeedGroup("fedorov", 3, (26, 27), ("phone",), "CONFLICT", "Nikolai vs Nikolay; same date"),
    SeedGroup("orlova", 3, (28, 29, 30), ("email", "phone"), "SUCCESS", "three-way"),
    SeedGroup(
        "lisitsyn",
        3,
        (64, 65, 66, 67, 68),
        ("phone",),
        "CONFLICT",
        "one mobile written five ways; Григорий vs Grigory vs Г.",
    ),
    SeedGroup("lead-petrov", 1, (1, 2), ("phone",), "SUCCESS", "two leads, one person"),
    SeedGroup("lead-kovaleva", 1, (7, 8), ("email",), "CONFLICT", "Мария Ковалёва vs Maria"),
    SeedGroup("romashka", 4, (1, 2), ("phone", "title"), "SUCCESS", "company, empty INDUSTRY"),
    SeedGroup("vector", 4, (3, 5), ("phone", "title"), "CONFLICT", "different INDUSTRY"),
    SeedGroup("alfa-stroy", 4, (6, 7), ("title",), "CONFLICT", "ООО «Альфа-Строй» vs LLC"),
    SeedGroup("ivanov-ip", 4, (12, 13), ("email", "title"), "CONFLICT", "ИП vs GmbH, quotes"),
    SeedGroup("deal-redesign", 2, (1, 2), ("title+client",), "SUCCESS", "same title+contact"),
    SeedGroup("deal-rollout", 2, (4, 5), ("title+client",), "CONFLICT", "different OPPORTUNITY"),
    SeedGroup("deal-supply", 2, (7, 8), ("title+client",), "CONFLICT", "Cyrillic vs Latin title"),
)

SEED_SHARED: tuple[SeedShared, ...] = (
    SeedShared(3, (12, 13), "phone_extension", "office number, different people and extensions"),
    SeedShared(3, (12, 15), "phone_extension", "office number, different people and extensions"),
    SeedShared(3, (13, 14), "phone_extension", "office number, different people and extensions"),
    SeedShared(3, (13, 15), "phone_extension", "same main number, extensions 99 vs 98"),
    SeedShared(3, (14, 15), "phone_extension", "office number, different people and extensions"),
    SeedShared(3, (16, 17), "phone", "office line of two different people"),
    SeedShared(3, (20, 21), "email", "family mailbox of two different people"),
    SeedShared(3, (61, 62), "phone", "one company's switchboard, different people"),
    SeedShared(3, (61, 63), "phone", "one company's switchboard, different people"),
    SeedShared(3, (62, 63), "phone", "one company's switchboard, different people"),
    SeedShared(1, (9, 10), "email", "family mailbox of two different people"),
    SeedShared(1, (11, 12), "phone_extension", "same person? same main number, ext 101 vs 102"),
    SeedShared(4, (8, 9), "phone", "Стройтрест-5 and Стройтрест-6 on one number"),
)

# How many filler phones, e-mails and titles a scan of each type skips.
SEED_IGNORED: dict[int, int] = {3: 4, 1: 4, 4: 6, 2: 2}

SEED_COUNTS: dict[int, int] = {3: 70, 1: 14, 4: 13, 2: 12}


def _ts(date: str) -> str:
    return f"{date}T10:00:00+03:00"


def _multi(values: tuple[str, ...], value_type: str) -> list[dict[str, str]]:
    return [{"VALUE": v, "VALUE_TYPE": value_type} for v in values]


# (id, NAME, LAST_NAME, phones, emails, created, assigned, extra fields)
_ContactRow = tuple[int, str, str, tuple[str, ...], tuple[str, ...], str, int, dict[str, str]]
_CONTACTS: list[_ContactRow] = [
    (
        1,
        "Иван",
        "Петров",
        ("+7 (912) 345-67-89",),
        ("ivan.petrov@example.ru",),
        "2021-03-15",
        1,
        {"POST": "Закупщик"},
    ),
    (2, "Ivan", "Petrov", ("8 912 345 67 89",), (), "2022-06-01", 2, {}),
    (3, "Иван", "Петров", ("89123456789",), (" Ivan.Petrov@Example.RU ",), "2023-01-20", 1, {}),
    (4, "", "Петров", ("+7-912-345-6789",), (), "2024-02-10", 3, {}),
    (
        5,
        "Anna",
        "Smirnova",
        ("+7 916 111-22-33",),
        ("anna.smirnova@mail.example",),
        "2020-05-05",
        1,
        {"POST": "Buyer"},
    ),
    (
        6,
        "Anna",
        "Smirnova",
        ("8(916)1112233",),
        ("ANNA.SMIRNOVA@mail.example ",),
        "2024-08-19",
        2,
        {"BIRTHDATE": "1990-07-14T00:00:00+03:00"},
    ),
    (7, "Olga", "Ivanova", ("+7 903 555-01-01",), (), "2019-11-11", 1, {}),
    (
        8,
        "Olga",
        "Ivanova",
        ("89035550101",),
        ("olga.ivanova@corp.example",),
        "2022-02-02",
        2,
        {"POST": "Lawyer"},
    ),
    (9, "Olga", "Ivanova", (), ("Olga.Ivanova@corp.example",), "2023-09-09", 3, {}),
    (
        10,
        "Sergey",
        "Kuznetsov",
        ("+7 495 700-10-20",),
        (),
        "2020-01-15",
        1,
        {"POST": "Sales Director"},
    ),
    (
        11,
        "Sergey",
        "Kuznetsov",
        ("84957001020",),
        ("s.kuznetsov@firm.example",),
        "2023-03-03",
        2,
        {"POST": "CEO"},
    ),
    (
        12,
        "Dmitry",
        "Sokolov",
        ("+7 495 123-45-67 ext. 12",),
        (),
        "2021-07-07",
        1,
        {"POST": "Engineer"},
    ),
    (13, "Elena", "Morozova", ("+7 495 123-45-67 ext. 99",), (), "2021-08-08", 2, {}),
    (
        14,
        "Dmitry",
        "Sokolov",
        ("+7 (495) 123-45-67 ext. 12",),
        ("d.sokolov@plant.example",),
        "2024-04-04",
        3,
        {},
    ),
    (15, "Elena", "Morozova", ("+7 495 123-45-67 ext. 98",), (), "2022-10-10", 1, {}),
    (
        16,
        "Pavel",
        "Volkov",
        ("+7 (812) 600-00-00",),
        ("pavel.volkov@office.example",),
        "2020-03-03",
        1,
        {},
    ),
    (17, "Tatiana", "Lebedeva", ("8 812 600 00 00", "+7 921 777-88-99"), (), "2020-04-04", 2, {}),
    (18, "Pavel", "Volkov", (), ("pavel.volkov@office.example ",), "2023-05-05", 2, {}),
    (19, "Tatiana", "Lebedeva", ("8 (921) 777-88-99",), (), "2024-06-06", 3, {}),
    (20, "Alexey", "Nikolaev", (), ("family.nikolaev@mail.example",), "2021-01-01", 1, {}),
    (21, "Marina", "Nikolaeva", (), ("Family.Nikolaev@mail.example",), "2021-01-02", 1, {}),
    (
        22,
        "Пётр",
        "Семёнов",
        ("+7 921 000-11-22",),
        ("p.semenov@semenov.example",),
        "2019-02-02",
        1,
        {},
    ),
    (23, "Петр", "Семенов", (), ("P.Semenov@semenov.example ",), "2022-12-12", 2, {}),
    (24, "", "Kuznetsova", (), ("m.kuz@kuz.example",), "2020-09-09", 1, {}),
    # older than 24 although its ID is higher: the survivor is the oldest, not the lowest ID
    (25, "Maria", "Kuznetsova", ("+7 999 888-77-66",), ("M.Kuz@Kuz.example",), "2019-07-07", 2, {}),
    (26, "Nikolai", "Fedorov", ("+7 917 222-33-44",), (), "2021-04-04", 1, {}),
    # created at the same instant as 26: the tie goes to the lower ID
    (27, "Nikolay", "Fedorov", ("8-917-222-33-44",), (), "2021-04-04", 3, {}),
    (28, "Ekaterina", "Orlova", (), ("  KATYA.ORLOVA@ORLOVA.EXAMPLE",), "2019-06-06", 1, {}),
    (
        29,
        "Ekaterina",
        "Orlova",
        ("+7 926 000-00-01",),
        ("katya.orlova@orlova.example",),
        "2021-06-06",
        2,
        {},
    ),
    (30, "Ekaterina", "Orlova", ("+79260000001",), (), "2023-06-06", 1, {"POST": "Accountant"}),
    (
        31,
        "Alexander",
        "Popov",
        ("+7 905 100-00-01",),
        ("a.popov@one.example",),
        "2020-02-02",
        1,
        {},
    ),
    (
        32,
        "Alexander",
        "Popov",
        ("+7 905 100-00-02",),
        ("a.popov@two.example",),
        "2022-02-02",
        2,
        {},
    ),
]

# Added after the first sixty (IDs 61+), so the groups above keep their IDs.
_MORE_CONTACTS: list[_ContactRow] = [
    # Three people of one company on its switchboard number, each with an own mailbox.
    (
        61,
        "Boris",
        "Antonov",
        ("+7 495 777-00-00",),
        ("b.antonov@zavod.example",),
        "2019-03-01",
        1,
        {},
    ),
    (
        62,
        "Galina",
        "Egorova",
        ("8 495 777 00 00",),
        ("g.egorova@zavod.example",),
        "2019-04-01",
        2,
        {},
    ),
    (63, "Фёдор", "Ткачёв", ("+74957770000",), ("f.tkachev@zavod.example",), "2019-05-01", 3, {}),
    # One person, one mobile number written five ways, Cyrillic and Latin names, an initial.
    (64, "Григорий", "Лисицын", ("+7 913 555 12 34",), (), "2018-02-02", 1, {}),
    (65, "Grigory", "Lisitsyn", ("8 (913) 555-12-34",), (), "2019-02-02", 2, {}),
    (66, "", "Лисицын", ("89135551234",), (), "2020-02-02", 3, {}),
    (67, "Григорий", "Лисицын", ("+7-913-555-1234",), (), "2021-02-02", 1, {}),
    (68, "Г.", "Лисицын", ("8-913-5551234",), (), "2022-02-02", 2, {}),
    # Fillers typed into required fields: never a group, counted as ignored.
    (69, "Roman", "Lavrov", ("+7 900 000-00-00",), ("test@test.com",), "2020-10-10", 1, {}),
    (70, "Yana", "Markova", ("+7 900 000-00-00",), ("test@test.com",), "2021-10-10", 2, {}),
]

_UNIQUE_NAMES = [
    ("Hans", "Müller"),
    ("Claire", "Dubois"),
    ("Giulia", "Rossi"),
    ("John", "Smith"),
    ("Мария", "Соколова"),
    ("Андрей", "Васильев"),
    ("Светлана", "Зайцева"),
    ("Юрий", "Павлов"),
    ("Kenji", "Tanaka"),
    ("Lucía", "García"),
    ("Piotr", "Nowak"),
    ("Oksana", "Shevchenko"),
    ("Aigerim", "Nurlanova"),
    ("Ahmed", "Hassan"),
    ("Sofia", "Andersson"),
    ("Максим", "Егоров"),
    ("Наталья", "Белова"),
    ("Roman", "Gusev"),
    ("Irina", "Titova"),
    ("Viktor", "Kiselev"),
    ("Ольга", "Макарова"),
    ("Denis", "Frolov"),
    ("Yulia", "Baranova"),
    ("Artem", "Komarov"),
    ("Полина", "Орехова"),
    ("Gleb", "Zhukov"),
    ("Vera", "Krylova"),
    ("Timur", "Aliev"),
]


def seed_portal(portal: Portal) -> None:
    """Fill a portal's CRM with the documented demo data."""
    crm = portal.crm
    for record_id, name, last, phones, emails, date, assigned, extra in _CONTACTS:
        fields: dict[str, Any] = {"NAME": name, "LAST_NAME": last, **extra}
        fields["PHONE"] = _multi(phones, "WORK")
        fields["EMAIL"] = _multi(emails, "WORK")
        crm.add(3, fields, user_id=assigned, created=_ts(date), record_id=record_id)
    for record_id, name, last, phones, emails, date, assigned, extra in _MORE_CONTACTS:
        fields = {"NAME": name, "LAST_NAME": last, **extra}
        fields["PHONE"] = _multi(phones, "WORK")
        fields["EMAIL"] = _multi(emails, "WORK")
        crm.add(3, fields, user_id=assigned, created=_ts(date), record_id=record_id)
    for offset, (name, last) in enumerate(_UNIQUE_NAMES):
        record_id = 33 + offset
        year = 2018 + offset % 7
        fields = {
            "NAME": name,
            "LAST_NAME": last,
            "PHONE": _multi(
                (f"+7 930 {400 + offset:03d}-{10 + offset:02d}-{50 + offset:02d}",), "MOBILE"
            ),
            "EMAIL": _multi((f"contact{record_id}@unique.example",), "WORK"),
        }
        if offset == 0:
            fields["PHONE"] = _multi(("+49 30 1234567",), "WORK")
        created = _ts(f"{year}-{1 + offset % 12:02d}-{1 + offset % 27:02d}")
        crm.add(3, fields, user_id=1 + offset % 3, created=created, record_id=record_id)

    leads = [
        (1, "Website request", "Ivan", "Petrov", ("+7 912 345 67 89",), (), "2023-02-01"),
        (2, "Call back request", "Ivan", "Petrov", ("89123456789",), (), "2023-02-15"),
        (3, "Price list", "Anna", "Smirnova", (), ("anna.smirnova@mail.example",), "2023-03-01"),
        (4, "Demo request", "Boris", "Grebenshchikov", ("+7 911 123-00-00",), (), "2023-04-01"),
        (5, "Partnership", "Lena", "Golubeva", (), ("lena@partner.example",), "2023-05-01"),
        (6, "Demo request", "Boris", "Grebenshchikov", (), ("boris@music.example",), "2024-01-10"),
        (7, "Order", "Мария", "Ковалёва", (), ("m.kovaleva@shop.example",), "2023-06-01"),
        (8, "Order again", "Maria", "Kovaleva", (), ("M.Kovaleva@Shop.example ",), "2023-06-20"),
        (9, "Family trip", "Oleg", "Sidorov", (), ("family@sidorov.example",), "2023-07-01"),
        (10, "Family trip", "Irina", "Sidorova", (), ("family@sidorov.example",), "2023-07-02"),
        (11, "Office", "Anton", "Belov", ("+7 495 300-20-10 доб. 101",), (), "2023-08-01"),
        (12, "Office", "Anton", "Belov", ("+7 495 300-20-10 доб. 102",), (), "2023-08-02"),
        (13, "Test", "Test", "Test", ("0000000",), ("noreply@example.com",), "2023-09-01"),
        (14, "Test", "Test", "Test", ("0000000",), ("noreply@example.com",), "2023-09-02"),
    ]
    for record_id, title, name, last, phones, emails, date in leads:
        crm.add(
            1,
            {
                "TITLE": title,
                "NAME": name,
                "LAST_NAME": last,
                "PHONE": _multi(phones, "WORK"),
                "EMAIL": _multi(emails, "WORK"),
            },
            user_id=1,
            created=_ts(date),
            record_id=record_id,
        )

    companies = [
        (1, "Romashka LLC", "IT", ("+7 495 111-11-11",), ("info@romashka.example",), "2018-03-01"),
        (2, "Romashka LLC", "", ("84951111111",), (), "2022-03-01"),
        (3, "Vector Ltd", "MANUFACTURING", ("+7 812 222-22-22",), (), "2019-03-01"),
        (4, "Horns & Hooves", "", (), ("info@hornsandhooves.example",), "2020-03-01"),
        (5, "Vector Ltd", "CONSULTING", ("+7 812 222-22-22",), (), "2021-03-01"),
        (6, "ООО «Альфа-Строй»", "", ("+7 383 210-10-10",), (), "2018-05-01"),
        (7, "Alfa-Stroy LLC", "", ("+7 383 210-10-11",), (), "2022-05-01"),
        (8, "Стройтрест-5", "", ("+7 343 200-00-01",), (), "2019-05-01"),
        (9, "Стройтрест-6", "", ("+7 343 200-00-01",), (), "2020-05-01"),
        (10, "Test", "", ("+7 000 000-00-00",), ("test@example.com",), "2021-05-01"),
        (11, "Test", "", ("+7 000 000-00-00",), ("test@example.com",), "2021-06-01"),
        (12, "ИП Иванов", "", (), ("office@ivanov-ip.example",), "2019-07-01"),
        (13, '"Ivanov" GmbH', "", (), ("Office@Ivanov-IP.example",), "2023-07-01"),
    ]
    for record_id, title, industry, phones, emails, date in companies:
        crm.add(
            4,
            {
                "TITLE": title,
                "INDUSTRY": industry,
                "PHONE": _multi(phones, "WORK"),
                "EMAIL": _multi(emails, "WORK"),
            },
            user_id=1,
            created=_ts(date),
            record_id=record_id,
        )

    deals = [
        (1, "Website redesign", {"CONTACT_ID": "5"}, "100000", "NEW", "2023-01-10"),
        (2, "Website redesign", {"CONTACT_ID": "5"}, "100000", "NEW", "2023-01-12"),
        (3, "Website redesign", {"CONTACT_ID": "7"}, "100000", "NEW", "2023-02-10"),
        (4, "CRM rollout", {"COMPANY_ID": "1"}, "250000", "PREPARATION", "2023-03-10"),
        (5, "CRM rollout", {"COMPANY_ID": "1"}, "300000", "PREPARATION", "2023-04-10"),
        (6, "Support contract", {"CONTACT_ID": "10"}, "50000", "WON", "2024-05-10"),
        (7, "Поставка оборудования", {"COMPANY_ID": "3"}, "700000", "NEW", "2023-06-10"),
        (8, "Postavka oborudovaniya", {"COMPANY_ID": "3"}, "700000", "NEW", "2023-06-11"),
        (9, "Поставка оборудования", {"COMPANY_ID": "4"}, "700000", "NEW", "2023-06-12"),
        (10, "Сделка", {"CONTACT_ID": "20"}, "1000", "NEW", "2023-07-10"),
        (11, "Сделка", {"CONTACT_ID": "20"}, "2000", "NEW", "2023-07-11"),
        (12, "Website redesign", {}, "100000", "NEW", "2023-08-10"),
    ]
    for record_id, title, link, amount, stage, date in deals:
        crm.add(
            2,
            {"TITLE": title, "OPPORTUNITY": amount, "STAGE_ID": stage, **link},
            user_id=1,
            created=_ts(date),
            record_id=record_id,
        )
