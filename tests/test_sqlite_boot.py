"""Several processes opening one new SQLite file at once (gunicorn workers booting)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from b24app.storage.db import Database


def test_a_worker_booting_while_another_holds_the_new_file_waits_instead_of_dying(
    tmp_path: Path,
) -> None:
    path = tmp_path / "boot.sqlite3"
    # Another process is inside a write transaction on a file still in rollback-journal mode:
    # switching to WAL needs the file to itself and SQLite refuses at once, without waiting.
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE elsewhere (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO elsewhere VALUES (1)")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        db = Database(f"sqlite:///{path}")
        db.create_tables()  # connects, switches to WAL and creates the tables
    finally:
        release.join()
        other.close()
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master")}
        assert "b24_portals" in tables and "elsewhere" in tables
    finally:
        check.close()
