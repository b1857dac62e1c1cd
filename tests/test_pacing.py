"""Pacing against the emulator's limits over HTTP: shared bucket, per-method budgets, churn."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from b24app.bitrix.auth import StaticToken
from b24app.bitrix.client import RestClient
from b24app.bitrix.errors import QueryLimitExceeded
from b24app.bitrix.pacing import RatePlan, SharedPacer
from b24app.devportal import DevPortal
from b24app.storage.db import Database
from tests.databases import database_url


@pytest.fixture
def emu() -> Iterator[DevPortal]:
    portal = DevPortal(seed=False, limits=True).start()
    portal.register_app("local.test.app", "secret", "http://127.0.0.1:9")
    yield portal
    portal.stop()


_urls: dict[Path, str] = {}


def _db(path: Path) -> Database:
    """A gateway to this test's database (the same one on every call, as processes share it)."""
    if path not in _urls:
        _urls[path] = database_url(path)
    db = Database(_urls[path])
    db.create_tables()
    return db


def _client(emu: DevPortal, pacer: SharedPacer | None, **kw: object) -> RestClient:
    access, _ = emu.issue_tokens(emu.portal, 1)
    return RestClient(
        requests.Session(),
        emu.portal.url + "/rest/",
        StaticToken(access.token),
        pacer=pacer,
        **kw,  # type: ignore[arg-type]
    )


def _add_contacts(emu: DevPortal, count: int, name: str | None = None) -> list[int]:
    with emu.lock:
        return [emu.portal.crm.add(3, {"NAME": name or f"C{i}"}) for i in range(count)]


def _hammer(clients: list[RestClient], calls: int) -> list[Exception]:
    """Each client calls profile ``calls`` times from its own thread."""
    failures: list[Exception] = []

    def run(client: RestClient) -> None:
        for _ in range(calls):
            try:
                client.call("profile")
            except QueryLimitExceeded as exc:
                failures.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_two_app_instances_on_one_database_share_the_portals_bucket(
    emu: DevPortal, tmp_path: Path
) -> None:
    emu.portal.limits.bucket_size = 10
    emu.portal.limits.drain_per_sec = 40.0
    plan = RatePlan(burst=10, drain_per_sec=40.0)
    # Two instances of the app (two database gateways, as two processes have) on one database.
    clients = [
        _client(emu, SharedPacer(_db(tmp_path), emu.portal.url, plan), max_rate_retries=0)
        for _ in range(2)
    ]
    failures = _hammer(clients, 25)
    assert failures == []
    assert sum(c.requests_sent for c in clients) == 50
    assert not [c for c in emu.portal.calls if c["status"] == 503]


def test_without_the_shared_bucket_the_same_load_trips_the_limit(emu: DevPortal) -> None:
    emu.portal.limits.bucket_size = 10
    emu.portal.limits.drain_per_sec = 40.0
    clients = [_client(emu, None, max_rate_retries=0) for _ in range(2)]
    assert _hammer(clients, 25)


def test_a_429_pauses_only_that_method_until_its_reset(emu: DevPortal, tmp_path: Path) -> None:
    limits = emu.portal.limits
    limits.operating_limit_s = 1.0
    limits.costs["crm.contact.update"] = 0.5
    clock = limits.now  # the pacer waits on the emulator's clock: advance() instead of sleeping
    pacer = SharedPacer(
        _db(tmp_path),
        emu.portal.url,
        RatePlan(method_budget_s=100.0),
        clock=clock,
        sleep=limits.advance,
    )
    client = _client(emu, pacer)
    [contact] = _add_contacts(emu, 1)
    # The app believes in a larger budget than the portal's, so the portal answers 429 once.
    for n in range(3):
        client.call("crm.contact.update", {"id": contact, "fields": {"NAME": f"N{n}"}})
    blocked = [c for c in emu.portal.calls if c["status"] == 429]
    assert len(blocked) == 1 and blocked[0]["method"] == "crm.contact.update"
    assert client.time_limited == 1
    # Other methods went on at once while crm.contact.update was paused.
    before = pacer.waited
    client.call("crm.contact.list", {"start": -1})
    assert pacer.waited == before
    # Every update ran exactly once.
    updates = [c for c in emu.portal.calls if c["method"] == "crm.contact.update"]
    assert [c["status"] for c in updates] == [200, 200, 429, 200]
    assert emu.portal.crm.records[3][contact]["NAME"] == "N2"


def test_the_budget_tracker_slows_a_method_before_the_portal_blocks_it(
    emu: DevPortal, tmp_path: Path
) -> None:
    limits = emu.portal.limits
    limits.operating_limit_s = 2.0
    limits.costs["crm.contact.update"] = 0.5
    pacer = SharedPacer(
        _db(tmp_path),
        emu.portal.url,
        RatePlan(method_budget_s=2.0),
        clock=limits.now,
        sleep=limits.advance,
    )
    client = _client(emu, pacer)
    [contact] = _add_contacts(emu, 1)
    for n in range(12):
        client.call("crm.contact.update", {"id": contact, "fields": {"NAME": f"N{n}"}})
    assert not [c for c in emu.portal.calls if c["status"] in (429, 503)]
    # Twelve calls of 0.5 s at 2 s per 600 s: the pacer waited out two and a bit windows.
    assert pacer.waited >= 2 * limits.operating_window_s


def test_a_503_storm_loses_and_repeats_no_merge(emu: DevPortal, tmp_path: Path) -> None:
    from b24app.merge import merge_group

    limits = emu.portal.limits
    limits.bucket_size = 1
    limits.drain_per_sec = 0.5  # every other request finds the bucket full
    ids = _add_contacts(emu, 6, name="Anna")
    client = _client(emu, None, sleep=lambda s: limits.advance(2.0))
    outcomes = [merge_group(client, emu.portal.url, 3, ids[i : i + 2]) for i in (0, 2, 4)]
    assert [o.status for o in outcomes] == ["SUCCESS"] * 3
    merges = [c for c in emu.portal.calls if c["method"] == "crm.entity.mergebatch"]
    assert [c["status"] for c in merges] == [200] * 3  # a 503 never reaches the method
    assert client.rate_limited >= 2
    assert sorted(emu.portal.crm.records[3]) == [ids[0], ids[2], ids[4]]


def test_churn_during_a_keyset_read_sees_every_lasting_record_once(
    emu: DevPortal,
) -> None:
    emu.portal.limits.enabled = False
    ids = _add_contacts(emu, 400)
    client = _client(emu, None)
    total = int(client.call_raw("crm.contact.list", {"start": 0, "select": ["ID"]})["total"])
    seen: list[int] = []
    deleted: set[int] = set()
    created: set[int] = set()
    reader = client.iter_keyset(
        "crm.contact.list", select=["ID"], expected_total=total, pages_per_batch=2
    )
    for n, page in enumerate(reader):
        seen.extend(int(row["ID"]) for row in page)
        # Between pages: delete one record behind the cursor and one ahead, create two.
        with emu.lock:
            for victim in (ids[n * 37 % 400], ids[(n * 53 + 250) % 400]):
                if victim not in deleted:
                    emu.portal.crm.delete(3, victim)
                    deleted.add(victim)
            created.update(emu.portal.crm.add(3, {"NAME": "new"}) for _ in range(2))
    assert len(seen) == len(set(seen))
    lasting = set(ids) - deleted
    assert lasting <= set(seen)
    assert set(seen) <= set(ids) | created
