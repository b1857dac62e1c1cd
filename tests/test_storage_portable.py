"""What a portal sends is stored alike on SQLite and PostgreSQL (which is stricter)."""

from __future__ import annotations

from pathlib import Path

from b24app.storage.db import Database
from tests.databases import database_url


def test_overlong_or_nul_text_from_a_portal_is_stored_cut_and_clean(tmp_path: Path) -> None:
    db = Database(database_url(tmp_path))
    db.upgrade_schema()
    portal = db.upsert_portal(
        member_id="m1",
        domain="a.bitrix24.example",
        scheme="https",
        client_endpoint="https://a.bitrix24.example/rest/",
        server_endpoint="https://oauth.bitrix.info/rest/",
    )
    db.update_portal(portal.id, setup_error="placement.bind failed:\x00 " + "x" * 5000)
    job = db.create_merge_job(portal_id=portal.id, user_id=1, entity_type_id=3, groups=[[1, 2]])
    assert db.claim_job(job.id, "w1", stale_before=0)
    assert db.begin_merge_call(job.id, 0, "w1")
    assert db.record_merge_outcome(
        job.id, 0, "w1", "ERROR", error_code="E" * 200, error_message="a\x00b"
    )
    db.finish_job(job.id, "w1", "failed", error_code="C" * 100 + "\x00", error_message="x\x00y")
    stored = db.get_job(job.id)
    assert stored is not None
    assert (stored.status, stored.error_code, stored.error_message) == ("failed", "C" * 64, "xy")
    (item,) = db.merge_items(job.id)
    assert (item["error_code"], item["error_message"]) == ("E" * 64, "ab")
    _, (history,) = db.merge_history(portal.id)
    assert history["error_code"] == "E" * 64
    assert db.get_portal(portal_id=portal.id).setup_error.startswith("placement.bind failed: x")
    db.close()
