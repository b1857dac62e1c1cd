"""Reading whole lists against the emulator over HTTP: keyset ranges in parallel, the general
pager, clamped pages and lost cursors (CASE-20, CASE-21)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from b24app.bitrix.auth import StaticToken
from b24app.bitrix.client import RestClient
from b24app.bitrix.errors import MethodError
from b24app.dedupe import Record
from b24app.devportal import DevPortal
from b24app.jobs.scan import SCANNABLE, Cancelled, read_all


@pytest.fixture
def emu() -> Iterator[DevPortal]:
    portal = DevPortal(seed=False, limits=False).start()
    portal.register_app("local.test.app", "secret", "http://127.0.0.1:9")
    yield portal
    portal.stop()


def _client(emu: DevPortal, user_id: int = 1) -> RestClient:
    access, _ = emu.issue_tokens(emu.portal, user_id)
    return RestClient(requests.Session(), emu.portal.url + "/rest/", StaticToken(access.token))


def _add(emu: DevPortal, count: int) -> list[int]:
    with emu.lock:
        return [
            emu.portal.crm.add(3, {"NAME": f"C{n}", "LAST_NAME": "Range"}) for n in range(count)
        ]


def _outer(emu: DevPortal) -> list[dict[str, object]]:
    return [c for c in emu.portal.calls if not c["via_batch"]]


def _lists(emu: DevPortal) -> list[dict[str, object]]:
    return [c for c in emu.portal.calls if c["method"] == "crm.contact.list"]


def test_parallel_ranges_read_every_record_once_in_the_fewest_requests(emu: DevPortal) -> None:
    ids = _add(emu, 6000)
    client = _client(emu)
    records: dict[int, Record] = {}
    read_all(client, SCANNABLE[3], records, lambda **_: True, parallel=2)
    assert sorted(records) == ids
    # One count, then two ranges of 3,000 records: 60 pages each, 50 + 10 in two batches.
    outer = _outer(emu)
    assert len(outer) == 1 + 4
    assert sum(1 for c in outer if c["method"] == "batch") == 4
    # The batches are sized by the range: one spare page each shows where it ends, no more.
    pages = [c for c in _lists(emu) if c["via_batch"]]
    assert len(pages) == 120 + 2
    # Both ranges had a request on the wire at once (the second started before the first's
    # batches ended): the read of range 2 starts above the split point.
    filters = [c["params"]["filter"] for c in pages]
    assert any(f.get(">ID") == "3000" for f in filters)
    assert {f.get("<=ID") for f in filters} == {"3000", "6000"}


def test_a_small_list_is_read_in_one_range(emu: DevPortal) -> None:
    ids = _add(emu, 120)
    records: dict[int, Record] = {}
    read_all(_client(emu), SCANNABLE[3], records, lambda **_: True, parallel=4)
    assert sorted(records) == ids
    assert len(_outer(emu)) == 2  # the count, one batch of three pages
    assert all("<=ID" not in c["params"]["filter"] for c in _lists(emu) if c["via_batch"])


def test_churn_during_a_parallel_read_sees_every_lasting_record_once(emu: DevPortal) -> None:
    ids = _add(emu, 6000)
    client = _client(emu)
    seen: list[int] = []
    deleted: set[int] = set()
    created: set[int] = set()
    pages = client.iter_keyset_ranges(
        "crm.contact.list", select=["ID"], upto=ids[-1], total=len(ids), parallel=3
    )
    for n, page in enumerate(pages):
        seen.extend(int(row["ID"]) for row in page)
        if n % 20 == 0:  # between batches: delete behind and ahead of every cursor, create some
            with emu.lock:
                for victim in (ids[(n * 97) % 6000], ids[(n * 131 + 3100) % 6000]):
                    if victim not in deleted:
                        emu.portal.crm.delete(3, victim)
                        deleted.add(victim)
                created.update(emu.portal.crm.add(3, {"NAME": "new"}) for _ in range(3))
    assert len(seen) == len(set(seen))
    assert set(ids) - deleted <= set(seen)
    assert set(seen) <= set(ids) | created


def test_an_error_in_one_range_ends_the_read_with_it(emu: DevPortal) -> None:
    ids = _add(emu, 6000)
    client = _client(emu, user_id=2)
    pages = client.iter_keyset_ranges(
        "crm.contact.list", select=["ID"], upto=ids[-1], total=len(ids), parallel=2
    )
    with pytest.raises(MethodError) as caught:
        for _ in pages:
            with emu.lock:  # the user loses the right to read CRM records mid-read
                emu.portal.users[2].can_read = False
    assert "Access denied" in caught.value.description


def test_a_cancelled_parallel_scan_stops_after_the_requests_in_flight(emu: DevPortal) -> None:
    _add(emu, 20000)
    client = _client(emu)
    records: dict[int, Record] = {}
    beats = 0

    def beat(**_: object) -> bool:
        nonlocal beats
        beats += 1
        return beats < 3  # the user cancels as the second page lands

    with pytest.raises(Cancelled):
        read_all(client, SCANNABLE[3], records, beat, parallel=2)
    sent = len(_outer(emu))
    assert sent <= 1 + 2 * 2  # the count, and at most one batch more per range
    assert not [t for t in threading.enumerate() if t.name.startswith("b24app-range")]
    assert len(_outer(emu)) == sent  # nothing goes out afterwards


def test_case20_the_general_pager_follows_next_to_the_end(emu: DevPortal) -> None:
    ids = _add(emu, 120)
    client = _client(emu)
    read = [
        int(row["ID"])
        for page in client.iter_pages("crm.contact.list", {"order": {"ID": "ASC"}})
        for row in page
    ]
    assert read == ids
    lists = _lists(emu)
    assert [c["params"]["start"] for c in lists] == [0, 50, 100]  # in the JSON body


def test_case20_a_lost_start_is_detected_after_the_second_page(emu: DevPortal) -> None:
    _add(emu, 120)
    emu.portal.lost_params["crm.contact.list"] = {"start"}
    client = _client(emu)
    rows: list[int] = []
    with pytest.raises(MethodError) as caught:
        for page in client.iter_pages("crm.contact.list", {"order": {"ID": "ASC"}}):
            rows.extend(int(row["ID"]) for row in page)
    assert caught.value.code == "PAGING_STALLED"
    assert len(_lists(emu)) == 2
    assert rows == list(range(1, 51))  # the first page once, never its copies


def test_case21_the_general_pager_takes_the_page_size_the_method_gives(emu: DevPortal) -> None:
    ids = _add(emu, 120)
    emu.portal.page_sizes["crm.contact.list"] = 30
    client = _client(emu)
    read = [int(r["ID"]) for page in client.iter_pages("crm.contact.list") for r in page]
    assert read == ids
    assert len(_lists(emu)) == 4


def test_case21_a_clamped_keyset_read_still_reaches_the_count_it_started_with(
    emu: DevPortal,
) -> None:
    ids = _add(emu, 200)
    emu.portal.page_sizes["crm.contact.list"] = 30
    records: dict[int, Record] = {}
    read_all(_client(emu), SCANNABLE[3], records, lambda **_: True)
    assert sorted(records) == ids


def test_the_emulators_keyset_bounds_agree_with_its_general_filter(emu: DevPortal) -> None:
    ids = _add(emu, 300)
    crm = emu.portal.crm
    for victim in ids[100:140]:
        crm.delete(3, victim)
    for filter_ in ({">ID": 90, "<=ID": 200}, {">ID": 90, "<ID": 200}, {">ID": 250}):
        fast, _, _ = crm.query(3, filter_=filter_, order={"ID": "ASC"}, start=-1)
        general, _, _ = crm.query(3, filter_=filter_, order={"ID": "ASC"}, start=0)
        assert [r["ID"] for r in fast] == [r["ID"] for r in general]
