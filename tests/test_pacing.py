"""Pacing against the emulator's limits over HTTP: shared bucket, per-method budgets, churn."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from b24app.bitrix.auth import StaticToken
from b24app.bitrix.client import RestClient
from b24app.bitrix.errors import QueryLimitExceeded
from b24app.bitrix.pacing import RatePlan, RateStore, SharedPacer
from b24app.devportal import DevPortal
from b24app.storage.db import Database
from b24app.storage.redis_rates import RedisRateStore
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


@pytest.fixture(params=["database", "redis"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], RateStore]:
    """Makes the pacer's shared store as each app process would: its database, or Redis."""
    if request.param == "database":
        return lambda: _db(tmp_path)
    url = request.getfixturevalue("redis_url")
    prefix = f"b24test:{uuid.uuid4().hex}"  # each test its own rows on the shared server
    return lambda: RedisRateStore(url, prefix=prefix)


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


def test_two_app_instances_share_the_portals_bucket(
    emu: DevPortal, stores: Callable[[], RateStore]
) -> None:
    emu.portal.limits.bucket_size = 10
    emu.portal.limits.drain_per_sec = 40.0
    plan = RatePlan(burst=10, drain_per_sec=40.0)
    # Two instances of the app (two gateways to the store, as two processes have).
    clients = [
        _client(emu, SharedPacer(stores(), emu.portal.url, plan), max_rate_retries=0)
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


@pytest.mark.parametrize("html", [False, True], ids=["json", "html-body"])
def test_a_429_pauses_only_that_method_until_its_reset(
    emu: DevPortal, stores: Callable[[], RateStore], html: bool
) -> None:
    if html:  # CASE-19: the 429 may come as an HTML page
        emu.portal.html_error_statuses = {429}
    limits = emu.portal.limits
    limits.operating_limit_s = 1.0
    limits.costs["crm.contact.update"] = 0.5
    clock = limits.now  # the pacer waits on the emulator's clock: advance() instead of sleeping
    pacer = SharedPacer(
        stores(),
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
    emu: DevPortal, stores: Callable[[], RateStore]
) -> None:
    limits = emu.portal.limits
    limits.operating_limit_s = 2.0
    limits.costs["crm.contact.update"] = 0.5
    pacer = SharedPacer(
        stores(),
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


def test_a_503_storm_loses_and_repeats_no_merge(emu: DevPortal) -> None:
    from b24app.merge import merge_group

    limits = emu.portal.limits
    limits.bucket_size = 1
    limits.drain_per_sec = 0.25  # after each request, the next three find the bucket full
    ids = _add_contacts(emu, 20, name="Anna")
    client = _client(emu, None, sleep=lambda s: limits.advance(1.0))
    groups = [ids[i : i + 2] for i in range(0, 20, 2)]
    outcomes = [merge_group(client, emu.portal.url, 3, group) for group in groups]
    assert [o.status for o in outcomes] == ["SUCCESS"] * 10
    merges = [c for c in emu.portal.calls if c["method"] == "crm.entity.mergebatch"]
    assert [c["status"] for c in merges] == [200] * 10  # a 503 never reaches the method
    assert sorted(c["params"]["params"]["entityIds"] for c in merges) == sorted(groups)
    assert client.rate_limited >= 20
    assert sorted(emu.portal.crm.records[3]) == [g[0] for g in groups]


def test_a_storm_of_html_503s_is_retried_for_reads_and_never_repeats_a_merge(
    emu: DevPortal,
) -> None:
    """An HTML 503 does not say the call never ran (a proxy may send it after the portal did
    the work): reads are retried; a merge is not re-sent until the portal shows it did not run."""
    from b24app.bitrix.errors import TransientError
    from b24app.merge import check_group, merge_group

    emu.portal.html_error_statuses = {503}
    limits = emu.portal.limits
    limits.bucket_size = 1
    limits.drain_per_sec = 0.5
    ids = _add_contacts(emu, 20, name="Anna")
    client = _client(emu, None, sleep=lambda s: limits.advance(1.0))
    seen = [
        int(r["ID"]) for page in client.iter_keyset("crm.contact.list", select=["ID"]) for r in page
    ]
    assert seen == ids
    unanswered = 0

    def merge_once(group: list[int]) -> str:
        nonlocal unanswered
        while True:
            try:
                return merge_group(client, emu.portal.url, 3, group).status
            except TransientError:
                unanswered += 1
                limits.advance(2.0)
                check = check_group(client, 3, group)  # as the job runner does
                if check.merged:
                    return "SUCCESS"
                assert check.untouched
                assert unanswered < 100
                limits.advance(2.0)  # the runner waits before it sends the call again

    groups = [ids[i : i + 2] for i in range(0, 20, 2)]
    assert [merge_once(group) for group in groups] == ["SUCCESS"] * 10
    assert unanswered > 0
    merged = [
        c["params"]["params"]["entityIds"]
        for c in emu.portal.calls
        if c["method"] == "crm.entity.mergebatch" and c["status"] == 200
    ]
    assert sorted(merged) == sorted(groups)  # each exactly once
    assert sorted(emu.portal.crm.records[3]) == [g[0] for g in groups]


def test_mixed_batch_results_are_kept_per_command_and_halt_skips_the_rest(
    emu: DevPortal,
) -> None:
    [first, second] = _add_contacts(emu, 2)
    client = _client(emu, None)
    commands = {
        "a": ("crm.contact.get", {"id": first}),
        "gone": ("crm.contact.get", {"id": 999}),
        "b": ("crm.contact.get", {"id": second}),
    }
    mixed = client.batch(commands)
    assert set(mixed.results) == {"a", "b"} and mixed.results["b"]["ID"] == str(second)
    assert (
        list(mixed.errors) == ["gone"] and "Not found" in mixed.errors["gone"]["error_description"]
    )
    halted = client.batch(commands, halt=True)
    assert list(halted.results) == ["a"] and list(halted.errors) == ["gone"]
    assert halted.skipped == ["b"]


def test_a_429_inside_a_keyset_batch_pauses_the_read_and_it_resumes(
    emu: DevPortal, tmp_path: Path
) -> None:
    limits = emu.portal.limits
    limits.enabled = True
    limits.operating_limit_s = 1.0
    limits.costs["crm.contact.list"] = 0.1
    ids = _add_contacts(emu, 1000)  # 20 pages: the portal blocks the method after 10
    pacer = SharedPacer(
        _db(tmp_path),
        emu.portal.url,
        RatePlan(method_budget_s=100.0),  # the app believes in more budget than there is
        clock=limits.now,
        sleep=limits.advance,
    )
    client = _client(emu, pacer)
    seen = [
        int(row["ID"])
        for page in client.iter_keyset("crm.contact.list", select=["ID"], expected_total=1000)
        for row in page
    ]
    assert seen == ids
    blocked = [c for c in emu.portal.calls if c["status"] == 429]
    assert blocked and {c["method"] for c in blocked} == {"crm.contact.list"}
    assert client.time_limited >= 1


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


def test_with_redis_url_every_process_paces_through_redis(tmp_path: Path, redis_url: str) -> None:
    import redis

    from b24app import app_context
    from tests.helpers import build_stack

    stack = build_stack(tmp_path, limits=True, redis_url=redis_url, run_worker=False)
    try:
        stack.install(1)
        ctx = app_context(stack.app)
        assert isinstance(ctx.rate_store, RedisRateStore)
        portal = stack.db.get_portal(member_id=stack.portal.member_id)
        ctx.rest(portal, 1).call("crm.contact.list", {"start": -1, "select": ["ID"]})
        keys = {k.decode() for k in redis.Redis.from_url(redis_url).keys("b24app:rate:*")}
        assert f"b24app:rate:bucket:{portal.client_endpoint}" in keys
        assert f"b24app:rate:budget:crm.contact.list:{portal.client_endpoint}" in keys
    finally:
        stack.close()
