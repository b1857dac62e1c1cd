"""Grouping records into proposed duplicate groups and pairs listed apart."""

from collections.abc import Sequence

import pytest

from b24app.dedupe import (
    SWITCHBOARD_CAP,
    Group,
    MatchResult,
    Record,
    SharedPair,
    find_duplicate_groups,
)

DAY = "2023-04-{:02d}T10:00:00+03:00"


def rec(
    id: int,
    first: str = "",
    last: str = "",
    *,
    created: str | None = None,
    phones: Sequence[str] = (),
    emails: Sequence[str] = (),
    title: str = "",
) -> Record:
    """A record for a table row; created defaults to day ID of April 2023."""
    return Record(
        id=id,
        created=created if created is not None else DAY.format(id % 28 + 1),
        first_name=first,
        last_name=last,
        title=title,
        phones=tuple(phones),
        emails=tuple(emails),
    )


def match(
    records: Sequence[Record], region: str | None = "RU", kind: str = "person"
) -> MatchResult:
    """Run the matcher."""
    return find_duplicate_groups(records, default_region=region, kind=kind)


def group_ids(result: MatchResult) -> list[tuple[int, ...]]:
    """The entity IDs of every proposed group."""
    return [g.entity_ids for g in result.groups]


def shared_ids(result: MatchResult) -> list[tuple[int, ...]]:
    """The entity IDs of every pair listed apart."""
    return [s.entity_ids for s in result.shared]


PHONE = "+7 900 123-45-67"
OFFICE = "+7 495 765-43-21"


def test_transitive_chain_over_phone_and_email() -> None:
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=[PHONE]),
            rec(2, "Иван", "Петров", phones=["8 900 123 45 67"], emails=["ivan@mail.ru"]),
            rec(3, "Ivan", "", emails=[" IVAN@mail.ru"]),
        ]
    )
    assert result.groups == (Group(entity_ids=(1, 2, 3), matched_on=("email", "phone")),)
    assert result.shared == ()
    assert result.ignored_values == 0


def test_office_phone_shared_by_two_people_never_fuses_their_groups() -> None:
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=[OFFICE], emails=["ivan@corp.ru"]),
            rec(2, "Ivan", "Petrov", emails=["ivan@corp.ru"]),
            rec(3, "Oleg", "Sidorov", phones=[OFFICE], emails=["oleg@corp.ru"]),
            rec(4, "Oleg", "Sidorov", emails=["oleg@corp.ru"]),
        ]
    )
    assert result.groups == (
        Group(entity_ids=(1, 2), matched_on=("email",)),
        Group(entity_ids=(3, 4), matched_on=("email",)),
    )
    assert result.shared == (SharedPair(entity_ids=(1, 3), matched_on=("phone",)),)


def test_family_mailbox_is_listed_apart_not_grouped() -> None:
    result = match(
        [
            rec(1, "Anna", "Smirnova", emails=["smirnovy@mail.ru"]),
            rec(2, "Oleg", "Smirnov", emails=["Smirnovy@mail.ru"], phones=[PHONE]),
        ]
    )
    assert result.groups == ()
    assert result.shared == (SharedPair(entity_ids=(1, 2), matched_on=("email",)),)


def test_nameless_record_between_two_people_joins_neither() -> None:
    # A nameless lead on a family phone could be either person: it is listed, not merged.
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=[PHONE]),
            rec(2, "", "", phones=[PHONE]),
            rec(3, "Maria", "Petrova", phones=[PHONE]),
        ]
    )
    assert result.groups == ()
    assert shared_ids(result) == [(1, 2), (1, 3), (2, 3)]


def test_mixed_component_is_split_and_the_ambiguous_link_listed() -> None:
    # "I. Petrov" (3) agrees with Ivan (1, 2) and with Igor (4, 5), who disagree with each other.
    records = [
        rec(1, "Ivan", "Petrov", emails=["ivan@mail.ru"]),
        rec(2, "Ivan", "Petrov", emails=["ivan@mail.ru"], phones=[PHONE]),
        rec(3, "I.", "Petrov", phones=[PHONE, OFFICE]),
        rec(4, "Igor", "Petrov", phones=[OFFICE], emails=["igor@mail.ru"]),
        rec(5, "Igor", "Petrov", emails=["igor@mail.ru"]),
    ]
    result = match(records)
    assert result.groups == (
        Group(entity_ids=(1, 2), matched_on=("email",)),
        Group(entity_ids=(4, 5), matched_on=("email",)),
    )
    assert result.shared == (
        SharedPair(entity_ids=(2, 3), matched_on=("phone",)),
        SharedPair(entity_ids=(3, 4), matched_on=("phone",)),
    )


def test_every_two_members_of_a_group_agree() -> None:
    # 2 links 1 and 3, but "Ivan" and "Igor" disagree: no group may hold both.
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=[PHONE]),
            rec(2, "", "Petrov", phones=[PHONE], emails=["p@mail.ru"]),
            rec(3, "Igor", "Petrov", emails=["p@mail.ru"]),
        ]
    )
    assert all(not {1, 3} <= set(ids) for ids in group_ids(result))
    assert shared_ids(result) == [(1, 2), (2, 3)]


def test_distinct_extensions_are_not_grouped_but_listed_case_13() -> None:
    result = match(
        [
            rec(501, "Ivan", "Petrov", phones=["+70000000001#99"]),
            rec(502, "Ivan", "Petrov", phones=["+70000000001#12"]),
            rec(503, "Ivan", "Petrov", phones=["+70000000001"]),
        ]
    )
    assert result.groups == ()
    # Same main number, other extensions: a person judges, nothing is merged.
    assert result.shared == tuple(
        SharedPair(entity_ids=ids, matched_on=("phone_extension",))
        for ids in [(501, 502), (501, 503), (502, 503)]
    )


def test_extension_pairs_inside_a_group_are_not_listed() -> None:
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=["+7 495 123-45-67 доб. 12"], emails=["i@petrov.ru"]),
            rec(2, "Ivan", "Petrov", phones=["+7 495 123-45-67 доб. 13"], emails=["i@petrov.ru"]),
            rec(3, "Oleg", "Sidorov", phones=["+7 495 123-45-67 доб. 14"], emails=["o@mail.ru"]),
        ]
    )
    assert result.groups == (Group(entity_ids=(1, 2), matched_on=("email",)),)
    assert result.shared == (
        SharedPair(entity_ids=(1, 3), matched_on=("phone_extension",)),
        SharedPair(entity_ids=(2, 3), matched_on=("phone_extension",)),
    )


def test_same_number_and_other_extension_both_listed_once() -> None:
    # 1 and 2 share +7 495 1234567 exactly (names disagree) and 2 and 3 only by main number.
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=["+7 495 123-45-67"]),
            rec(2, "Oleg", "Sidorov", phones=["+7 495 123-45-67", "+7 916 555-44-33 #7"]),
            rec(3, "Oleg", "Sidorov", phones=["+7 916 555-44-33 #8"]),
        ]
    )
    assert result.groups == ()
    assert result.shared == (
        SharedPair(entity_ids=(1, 2), matched_on=("phone",)),
        SharedPair(entity_ids=(2, 3), matched_on=("phone_extension",)),
    )


def test_extensions_of_a_switchboard_are_not_listed() -> None:
    crowd = [
        rec(100 + n, f"Name{n}", f"Last{n}", phones=[f"{OFFICE} ext. {n}"])
        for n in range(SWITCHBOARD_CAP + 1)
    ]
    assert match(crowd).shared == ()


def test_same_extension_groups() -> None:
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=["+7 495 123-45-67 доб. 12"]),
            rec(2, "Ivan", "Petrov", phones=["8 (495) 1234567 #12"]),
        ]
    )
    assert group_ids(result) == [(1, 2)]


def test_formats_of_one_number_group_case_15() -> None:
    # CASE-15 with a real-looking number: "+7 (900) 000-00-00" itself is a placeholder.
    result = match(
        [
            rec(800, "Ivan", "Petrov", phones=["+7 (900) 123-45-67"]),
            rec(801, "", "", phones=["8 900 123 45 67"]),
            rec(802, "", "", phones=["+7-900-123-4567"]),
            rec(803, "", "", phones=["9001234567"]),
        ]
    )
    assert result.groups == (Group(entity_ids=(800, 801, 802, 803), matched_on=("phone",)),)


def test_without_a_region_digits_are_not_guessed_into_a_country() -> None:
    records = [
        rec(1, "Ivan", "Petrov", phones=["+7 900 123-45-67"]),
        rec(2, "Ivan", "Petrov", phones=["8 900 123-45-67"]),
        rec(3, "Ivan", "Petrov", phones=["8 (900) 123 45 67"]),
    ]
    assert group_ids(match(records, region=None)) == [(2, 3)]
    assert group_ids(match(records, region="RU")) == [(1, 2, 3)]


@pytest.mark.parametrize(
    ("records", "order"),
    [
        # earliest instant first, offsets respected: 10:00+03:00 is before 09:00+00:00
        (
            [
                rec(1, created="2023-04-01T09:00:00+00:00"),
                rec(2, created="2023-04-01T10:00:00+03:00"),
            ],
            (2, 1),
        ),
        # ties go to the lower ID
        (
            [
                rec(9, created="2023-04-01T10:00:00+03:00"),
                rec(4, created="2023-04-01T07:00:00+00:00"),
                rec(7, created="2023-04-01T10:00:00+03:00"),
            ],
            (4, 7, 9),
        ),
        # unreadable or missing dates after every dated record, by ID
        (
            [
                rec(1, created="garbage"),
                rec(2, created=""),
                rec(5, created="2024-01-01T00:00:00+03:00"),
                rec(3, created="2023-13-45T99:00:00+03:00"),
                rec(8, created="2020-01-01T00:00:00+03:00"),
            ],
            (8, 5, 1, 2, 3),
        ),
        (
            [
                Record(id=3, created=None, phones=(PHONE,)),
                Record(id=2, created=None, phones=(PHONE,)),
                Record(id=6, created="2023-04-01", phones=(PHONE,)),
            ],
            (6, 2, 3),
        ),
    ],
)
def test_survivor_order(records: list[Record], order: tuple[int, ...]) -> None:
    shared_phone = [
        Record(id=r.id, created=r.created, first_name="Ivan", last_name="Petrov", phones=(PHONE,))
        for r in records
    ]
    assert group_ids(match(shared_phone)) == [order]


def test_ignored_values_count_every_filler() -> None:
    result = match(
        [
            rec(
                1,
                "Ivan",
                "Petrov",
                phones=["", "-", "+7 000 000-00-00", PHONE],
                emails=["test@test.com", "нет"],
            ),
            rec(2, "Ivan", "Petrov", phones=["1234567", PHONE], emails=["noreply@corp.ru"]),
            rec(3, "Oleg", "Sidorov", phones=["1111111"], emails=["test@example.com"]),
        ]
    )
    assert result.ignored_values == 9
    assert group_ids(result) == [(1, 2)]


def test_fillers_never_make_a_group() -> None:
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=["+7 000 000-00-00"], emails=["test@test.com"]),
            rec(2, "Ivan", "Petrov", phones=["8 000 000 00 00"], emails=["test@test.com"]),
        ]
    )
    assert result.groups == ()
    assert result.shared == ()
    assert result.ignored_values == 4


def test_groups_are_sorted_by_survivor_id_and_need_two_records() -> None:
    result = match(
        [
            rec(10, "Ivan", "Petrov", phones=[PHONE]),
            rec(11, "Ivan", "Petrov", phones=["+7 900 123-45-67"]),
            rec(3, "Oleg", "Sidorov", emails=["oleg@corp.ru"]),
            rec(4, "Oleg", "Sidorov", emails=["oleg@corp.ru"]),
            rec(5, "Anna", "Smirnova", emails=["anna@corp.ru"]),
        ]
    )
    assert group_ids(result) == [(3, 4), (10, 11)]


def test_a_record_repeated_in_the_input_counts_once() -> None:
    record = rec(1, "Ivan", "Petrov", phones=[PHONE])
    assert match([record, record]).groups == ()


def test_companies_group_by_title() -> None:
    result = match(
        [
            rec(1, title="ООО «Ромашка»", phones=[OFFICE]),
            rec(2, title="Romashka LLC", phones=["8 495 765 43 21"]),
            rec(3, title="ООО «Лютик»", phones=[OFFICE]),
            rec(4, title="", emails=["info@lutik.ru"], phones=[OFFICE]),
        ],
        kind="company",
    )
    # The untitled company 4 shares the office line with both firms, so it joins neither.
    assert result.groups == (Group(entity_ids=(1, 2), matched_on=("phone", "title")),)
    assert shared_ids(result) == [(1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]

    result = match(
        [
            rec(1, title="ООО «Ромашка»", phones=[OFFICE]),
            rec(2, title="Romashka LLC", phones=["8 495 765 43 21"]),
            rec(3, title="ООО «Лютик»", emails=["info@lutik.ru"]),
            rec(4, title="Лютик", emails=["info@lutik.ru"]),
        ],
        kind="company",
    )
    assert result.groups == (
        Group(entity_ids=(1, 2), matched_on=("phone", "title")),
        Group(entity_ids=(3, 4), matched_on=("email", "title")),
    )


def test_companies_group_by_title_alone() -> None:
    result = match(
        [
            rec(1, title="ООО «Ромашка»", phones=[OFFICE]),
            rec(2, title="Romashka LLC", emails=["sales@romashka.ru"]),
            rec(3, title="  ROMASHKA  GmbH"),
            rec(4, title="Стройтрест-5"),
            rec(5, title="Стройтрест-6"),
            rec(6, title="Test"),
            rec(7, title="test"),
            rec(8, title="ООО"),
            rec(9, title="ИП"),
        ],
        kind="company",
    )
    assert result.groups == (Group(entity_ids=(1, 2, 3), matched_on=("title",)),)
    assert result.shared == ()
    assert result.ignored_values == 4  # two filler titles, two legal forms alone


def drec(id: int, title: str, client: str, created: str | None = None) -> Record:
    """A deal for a table row."""
    return Record(id=id, created=created or DAY.format(id % 28 + 1), title=title, client=client)


def test_deals_group_by_title_and_client() -> None:
    result = match(
        [
            drec(1, "Website redesign", "contact:5"),
            drec(2, "website  REDESIGN", "contact:5"),
            drec(3, "Website redesign", "contact:7"),
            drec(4, "Внедрение CRM", "company:1"),
            drec(5, "Vnedrenie CRM", "company:1"),
            drec(6, "Внедрение CRM", "contact:1"),
            drec(7, "Support", ""),
            drec(8, "Support", ""),
            drec(9, "Сделка", "contact:5"),
            drec(10, "Сделка", "contact:5"),
        ],
        kind="deal",
    )
    assert result.groups == (
        Group(entity_ids=(1, 2), matched_on=("title+client",)),
        Group(entity_ids=(4, 5), matched_on=("title+client",)),
    )
    assert result.shared == ()


def test_deal_survivor_is_the_oldest() -> None:
    result = match(
        [
            drec(1, "Rollout", "company:3", created="2024-01-01T00:00:00+00:00"),
            drec(2, "Rollout", "company:3", created="2023-01-01T00:00:00+00:00"),
            drec(3, "Rollout", "company:3", created="2023-01-01T00:00:00+00:00"),
        ],
        kind="deal",
    )
    assert group_ids(result) == [(2, 3, 1)]


def test_switchboard_links_only_same_full_names() -> None:
    size = SWITCHBOARD_CAP + 10
    crowd = [rec(100 + n, "", "", phones=[OFFICE]) for n in range(size)]
    crowd += [rec(1, "Ivan", "Petrov", phones=[OFFICE]), rec(2, "Ivan", "Petrov", phones=[OFFICE])]
    result = match(crowd)
    assert result.groups == (Group(entity_ids=(1, 2), matched_on=("phone",)),)
    assert result.shared == ()


def test_switchboard_below_the_cap_still_lists_pairs() -> None:
    crowd = [rec(1, "Ivan", "Petrov", phones=[OFFICE]), rec(2, "Oleg", "Sidorov", phones=[OFFICE])]
    assert shared_ids(match(crowd)) == [(1, 2)]


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        match([rec(1, "Ivan")], kind="invoice")


def test_contested_member_leaves_the_group() -> None:
    # Ivan (1) - phone - nameless (2) - e-mail - nameless (3) - phone - Maria (4): record 3 is also
    # tied to Maria, who is not Ivan, so only 1 and 2 are proposed; the rest is for a person.
    result = match(
        [
            rec(1, "Ivan", "Petrov", phones=[PHONE]),
            rec(2, phones=[PHONE], emails=["family@mail.ru"]),
            rec(3, emails=["family@mail.ru"], phones=[OFFICE]),
            rec(4, "Maria", "Petrova", phones=[OFFICE]),
        ]
    )
    assert result.groups == (Group(entity_ids=(1, 2), matched_on=("phone",)),)
    assert result.shared == (
        SharedPair(entity_ids=(2, 3), matched_on=("email",)),
        SharedPair(entity_ids=(3, 4), matched_on=("phone",)),
    )


def test_many_records_group_in_linear_time() -> None:
    # 20,000 records of 12,000 people; all-pairs comparison would take minutes.
    records = [
        rec(
            n,
            "Ivan",
            f"Petrov{n % 12000}",
            created=f"2023-01-01T00:00:{n % 60:02d}+03:00",
            phones=[f"+7 916 {n % 12000 + 1000000:07d}"],
            emails=[f"user{n % 12000}@mail.ru"] if n % 3 else [],
        )
        for n in range(20000)
    ]
    result = match(records)
    assert len(result.groups) == 8000
    assert all(len(g.entity_ids) == 2 for g in result.groups)
    assert result.shared == ()
