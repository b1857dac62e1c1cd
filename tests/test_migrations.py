"""Schema revisions: created, stamped or upgraded, data kept, equal to the app's tables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from b24app.security import TokenCipher
from b24app.storage import migrate
from b24app.storage.db import Database
from b24app.storage.schema import metadata
from tests.databases import database_url
from tests.helpers import ROOT

RATE_TABLES = ("b24_rate_buckets", "b24_method_budgets")
BASELINE_TABLES = [name for name in metadata.tables if name not in RATE_TABLES]


def _db(tmp_path: Path) -> Database:
    return Database(database_url(tmp_path), cipher=TokenCipher("migration-test-key"))


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _fill(db: Database) -> None:
    """Rows in every table the baseline has, written by the app's own code."""
    portal = db.upsert_portal(
        member_id="m-keep",
        domain="keep.bitrix24.example",
        scheme="https",
        client_endpoint="https://keep.bitrix24.example/rest/",
        server_endpoint="https://oauth.bitrix.info/rest/",
        application_token="APP_TOKEN_KEEP",
    )
    db.store_token(
        portal_id=portal.id,
        user_id=1,
        access_token="AT_KEEP",
        refresh_token="RT_KEEP",
        expires_at=1e9,
        is_installer=True,
    )
    scan = db.create_scan_job(portal_id=portal.id, user_id=1, entity_type_id=3, params={"a": 1})
    db.store_scan_results(
        scan.id,
        [{"entity_ids": [1, 2], "matched_on": ["phone"], "members": [{"id": 1}, {"id": 2}]}],
        [],
    )
    merge = db.create_merge_job(
        portal_id=portal.id, user_id=1, entity_type_id=3, groups=[[1, 2], [3, 4]]
    )
    db.set_merge_item(merge.id, 0, status="SUCCESS", kept_id=1, merged_ids=[2], finished_at=5.0)
    db.mark_not_duplicates(portal.id, 3, [7, 8], user_id=1)
    db.create_oauth_state("f" * 64, portal_id=portal.id, user_id=1, expires_at=9e9)
    db.raise_alarm("test_alarm", fingerprint="fp", detail="kept")


def _snapshot(db: Database, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of these tables, in a stable order."""
    with db.engine.connect() as conn:
        return {
            name: sorted(
                (tuple(row) for row in conn.execute(sa.select(metadata.tables[name]))),
                key=repr,
            )
            for name in tables
        }


def test_a_new_database_gets_the_newest_revision_equal_to_the_apps_tables(
    tmp_path: Path,
) -> None:
    db = _db(tmp_path)
    done = db.upgrade_schema()
    assert (done.action, done.current, done.head) == ("created", migrate.head(), "0002")
    assert set(metadata.tables) <= _tables(db)
    assert migrate.differences(db.engine) == []
    assert db.upgrade_schema().action == "none"  # idempotent


def test_upgrading_a_baseline_database_that_holds_data_keeps_every_row(tmp_path: Path) -> None:
    db = _db(tmp_path)
    assert migrate.upgrade(db.engine, migrate.BASELINE).current == "0001"
    assert not set(RATE_TABLES) & _tables(db)
    _fill(db)
    before = _snapshot(db, BASELINE_TABLES)
    assert all(before[name] for name in BASELINE_TABLES)  # each table holds something
    done = db.upgrade_schema()
    assert (done.action, done.current) == ("upgraded", "0002")
    assert _snapshot(db, BASELINE_TABLES) == before
    assert migrate.differences(db.engine) == []
    # and the app reads what the older schema held
    portal = db.get_portal(member_id="m-keep")
    assert portal is not None
    assert db.get_token(portal.id, 1).access_token == "AT_KEEP"
    assert db.application_token_matches(portal, "APP_TOKEN_KEEP") is True
    # the new tables work
    assert (
        db.change_rate_state(
            "bucket",
            {"portal": portal.client_endpoint},
            {"burst": 50, "drain": 2.0, "level": 0.0, "level_at": 0.0},
            lambda row: ({**row, "level": 1.0}, "ok"),
        )
        == "ok"
    )


@pytest.mark.parametrize(
    ("tables", "stamped_as"),
    [(BASELINE_TABLES, "0001"), (list(metadata.tables), "0002")],
    ids=["made-at-746a6b3", "made-with-rate-tables"],
)
def test_a_database_create_all_made_before_migrations_is_recognised_not_recreated(
    tmp_path: Path, tables: list[str], stamped_as: str
) -> None:
    db = _db(tmp_path)
    metadata.create_all(db.engine, tables=[metadata.tables[name] for name in tables])
    _fill(db)
    before = _snapshot(db, BASELINE_TABLES)
    done = db.upgrade_schema()
    assert done.current == "0002"
    assert done.action == ("stamped" if stamped_as == "0002" else "upgraded")
    assert _snapshot(db, BASELINE_TABLES) == before
    assert migrate.differences(db.engine) == []


def test_a_half_made_revision_is_refused_not_guessed(tmp_path: Path) -> None:
    db = _db(tmp_path)
    metadata.create_all(
        db.engine, tables=[metadata.tables[n] for n in [*BASELINE_TABLES, "b24_rate_buckets"]]
    )
    with pytest.raises(migrate.SchemaError, match="b24_method_budgets"):
        db.upgrade_schema()


def test_processes_starting_together_upgrade_once(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    gateways = [Database(url) for _ in range(4)]
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(gateways))

    def boot(db: Database) -> None:
        start.wait()
        try:
            results.append(db.upgrade_schema().action)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=boot, args=(db,)) for db in gateways]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == ["created", "none", "none", "none"]
    for db in gateways:
        db.close()


def test_a_schema_a_newer_release_migrated_is_left_alone(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db.upgrade_schema()
    with db.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    done = db.upgrade_schema()  # a rolling deploy: old processes keep running
    assert (done.action, done.current) == ("none", "9999")


def _cli(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "b24app.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_commands_create_report_and_keep_the_old_name(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    status = _cli(["db", "status"], url, tmp_path)
    assert status.returncode == 1 and "revision none (newest 0002)" in status.stdout
    upgrade = _cli(["db", "upgrade"], url, tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "schema created: revision 0002" in upgrade.stdout
    again = _cli(["init-db"], url, tmp_path)  # the release step's earlier name
    assert again.returncode == 0 and "already current" in again.stdout
    status = _cli(["db", "status"], url, tmp_path)
    assert status.returncode == 0 and "revision 0002 (newest 0002)" in status.stdout
    assert "differs" not in status.stdout


def test_the_release_step_migrates(tmp_path: Path) -> None:
    release = (ROOT / "Procfile").read_text().split("release:", 1)[1].splitlines()[0].split()
    assert release[:3] == ["b24app", "db", "upgrade"]
    url = database_url(tmp_path)
    done = _cli(release[1:], url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert migrate.state(Database(url).engine).is_current


def test_a_built_wheel_carries_its_migrations(tmp_path: Path) -> None:
    """A non-editable install finds the revisions inside the package."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "b24app", source / "b24app", ignore=ignore)
    shutil.copytree(ROOT / "templates", source / "templates", ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("b24app-*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    for name in (
        "b24app/storage/migrations/script.py.mako",
        "b24app/storage/migrations/versions/0001_baseline.py",
        "b24app/storage/migrations/versions/0002_rate_tables.py",
    ):
        assert name in names
    url = database_url(tmp_path)
    check = (
        "import b24app, sys; from b24app.storage import Database, migrate; "
        f"assert b24app.__file__.startswith({str(unpacked)!r}), b24app.__file__; "
        f"print(Database({url!r}).upgrade_schema().current)"
    )
    ran = subprocess.run(
        [sys.executable, "-c", check],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(unpacked)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "0002"
