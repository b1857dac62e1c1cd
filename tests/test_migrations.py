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
# The tables and the head revision the newest one added (migrate.ADDED_AFTER_BASELINE).
HEAD = migrate.ADDED_AFTER_BASELINE[-1][0]
LATER_TABLES = {name for _, added in migrate.ADDED_AFTER_BASELINE for name in added}
BASELINE_TABLES = [name for name in metadata.tables if name not in LATER_TABLES]


def _db(tmp_path: Path) -> Database:
    return Database(database_url(tmp_path), cipher=TokenCipher("migration-test-key"))


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _reflected(db: Database, tables: list[str]) -> sa.MetaData:
    """The tables as the database holds them (an older schema has fewer columns)."""
    found = sa.MetaData()
    found.reflect(db.engine, only=tables)
    return found


def _value(column: sa.Column[Any]) -> Any:
    """A value of the column's type; every text is "x" and every number 1, so foreign keys
    (a job's ID, a portal's ID) point at the one row each table gets."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Float | sa.Numeric):
        return 1.5
    if isinstance(kind, sa.LargeBinary):
        return b"x"
    if isinstance(kind, sa.JSON):
        return [1, 2]
    return "x"


def _fill_old(db: Database, tables: list[str]) -> None:
    """One row in every table of an older schema, written as that schema's columns allow
    (the app of today writes columns an older schema does not have)."""
    found = _reflected(db, tables)
    with db.begin() as conn:
        for table in found.sorted_tables:
            row = {
                column.name: _value(column)
                for column in table.columns
                if not (column.primary_key and column.autoincrement is True)
                and not (
                    column.primary_key
                    and isinstance(column.type, sa.Integer)
                    and len(table.primary_key.columns) == 1
                )
            }
            conn.execute(table.insert().values(**row))


def _snapshot(
    db: Database, tables: list[str], columns: dict[str, list[str]] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of these tables (only ``columns`` of each, when given), in a stable order."""
    found = _reflected(db, tables)
    out = {}
    with db.engine.connect() as conn:
        for name in tables:
            table = found.tables[name]
            picked = [table.c[c] for c in (columns or {}).get(name, table.c.keys())]
            out[name] = sorted((tuple(row) for row in conn.execute(sa.select(*picked))), key=repr)
    return out


def _columns(db: Database, tables: list[str]) -> dict[str, list[str]]:
    found = _reflected(db, tables)
    return {name: list(found.tables[name].c.keys()) for name in tables}


def _legacy(db: Database, revision: str) -> None:
    """A database as create_all made it when ``revision`` was the newest (no version table)."""
    if revision == HEAD:
        metadata.create_all(db.engine)
        return
    migrate.upgrade(db.engine, revision)
    with db.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")


def test_a_new_database_gets_the_newest_revision_equal_to_the_apps_tables(
    tmp_path: Path,
) -> None:
    db = _db(tmp_path)
    done = db.upgrade_schema()
    assert (done.action, done.current, done.head) == ("created", migrate.head(), HEAD)
    assert set(metadata.tables) <= _tables(db)
    assert migrate.differences(db.engine) == []
    assert db.upgrade_schema().action == "none"  # idempotent


@pytest.mark.parametrize("start", ["0001", "0002"])
def test_upgrading_a_database_that_holds_data_keeps_every_row(tmp_path: Path, start: str) -> None:
    db = _db(tmp_path)
    assert migrate.upgrade(db.engine, start).current == start
    held = sorted(_tables(db) - {"alembic_version"})
    present_later = LATER_TABLES & set(held)
    assert present_later == (set(RATE_TABLES) if start == "0002" else set())
    _fill_old(db, held)
    old_columns = _columns(db, held)
    before = _snapshot(db, held)
    assert all(before[name] for name in held)  # each table holds something
    done = db.upgrade_schema()
    assert (done.action, done.current) == ("upgraded", HEAD)
    assert _snapshot(db, held, old_columns) == before
    assert migrate.differences(db.engine) == []
    # the app reads what the older schema held, and writes the new columns and tables
    portal = db.get_portal(member_id="x")
    assert portal is not None and portal.domain == "x"
    db.update_portal(portal.id, state="installed")
    assert (
        db.change_rate_state(
            "bucket",
            {"portal": portal.client_endpoint + "/new"},
            {"burst": 50, "drain": 2.0, "level": 0.0, "level_at": 0.0},
            lambda row: ({**row, "level": 1.0}, "ok"),
        )
        == "ok"
    )


@pytest.mark.parametrize("made_at", ["0001", "0002", HEAD])
def test_a_database_create_all_made_before_migrations_is_recognised_not_recreated(
    tmp_path: Path, made_at: str
) -> None:
    db = _db(tmp_path)
    _legacy(db, made_at)
    held = sorted(_tables(db))
    _fill_old(db, held)
    old_columns = _columns(db, held)
    before = _snapshot(db, held)
    done = db.upgrade_schema()
    assert done.current == HEAD
    assert done.action == ("stamped" if made_at == HEAD else "upgraded")
    assert _snapshot(db, held, old_columns) == before
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
    assert status.returncode == 1 and f"revision none (newest {HEAD})" in status.stdout
    upgrade = _cli(["db", "upgrade"], url, tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"schema created: revision {HEAD}" in upgrade.stdout
    again = _cli(["init-db"], url, tmp_path)  # the release step's earlier name
    assert again.returncode == 0 and "already current" in again.stdout
    status = _cli(["db", "status"], url, tmp_path)
    assert status.returncode == 0 and f"revision {HEAD} (newest {HEAD})" in status.stdout
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
        "b24app/storage/migrations/versions/0003_queue_events_verifications.py",
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
    assert ran.stdout.strip() == HEAD
