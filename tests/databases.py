"""Which database the suite runs on, and a fresh, empty one for each test.

``B24_TEST_DATABASE=postgresql`` (with ``B24_TEST_POSTGRES_URL`` naming a server and a database
the user may create schemas in) runs every test on PostgreSQL: each gets a schema of its own,
reached through ``search_path``, dropped when the test ends. Otherwise each test gets its own
SQLite file. ``make test`` runs the suite both ways when ``B24_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

BACKEND = os.environ.get("B24_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"B24_TEST_DATABASE must be sqlite or postgresql, not {BACKEND!r}")
ON_POSTGRES = BACKEND == "postgresql"
SCHEMA_PREFIX = "b24t_"

_created: list[str] = []
_admin: sa.Engine | None = None


def server_url() -> URL:
    """The PostgreSQL server the tests use (``B24_TEST_POSTGRES_URL``), with psycopg 3."""
    raw = os.environ.get("B24_TEST_POSTGRES_URL", "")
    if not raw:
        raise RuntimeError("B24_TEST_DATABASE=postgresql needs B24_TEST_POSTGRES_URL")
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def describe() -> str:
    """One line for pytest's header: the backend, and the server without credentials."""
    if not ON_POSTGRES:
        return "database: sqlite (a file per test)"
    url = server_url()
    return f"database: postgresql at {url.host}:{url.port or 5432}/{url.database} (schema per test)"


def _admin_engine() -> sa.Engine:
    global _admin
    if _admin is None:
        _admin = sa.create_engine(server_url(), poolclass=sa.pool.NullPool)
    return _admin


def database_url(tmp_path: Path, name: str = "app") -> str:
    """A new, empty database for this test: a SQLite file, or a PostgreSQL schema of its own."""
    if not ON_POSTGRES:
        return f"sqlite:///{tmp_path / f'{name}.sqlite3'}"
    schema = f"{SCHEMA_PREFIX}{secrets.token_hex(6)}"
    with _admin_engine().begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    _created.append(schema)
    # application_name lets the clean-up find (and end) every connection the test left open.
    url = server_url().update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": schema}
    )
    return url.render_as_string(hide_password=False)


def drop_created() -> None:
    """Hand the schemas made since the last call to the dropper; it ends their connections.

    The drop runs on a thread of its own while the next test starts (a few tens of
    milliseconds a test on PostgreSQL); ``finish_drops`` waits for it at the session's end.
    """
    if not _created:
        return
    schemas = list(_created)
    _created.clear()
    global _dropper
    with _dropper_guard:
        if _dropper is None or not _dropper.is_alive():
            _dropper = threading.Thread(target=_drop_forever, name="schema-dropper", daemon=True)
            _dropper.start()
    _to_drop.put(schemas)


def finish_drops() -> None:
    """Wait until every schema handed over is dropped (re-raising the dropper's failure)."""
    if _dropper is not None and _dropper.is_alive():
        _to_drop.join()
    if _drop_failures:
        raise _drop_failures[0]


_to_drop: queue.Queue[list[str]] = queue.Queue()
_dropper: threading.Thread | None = None
_dropper_guard = threading.Lock()
_drop_failures: list[BaseException] = []


def _drop_forever() -> None:
    while True:
        schemas = _to_drop.get()
        try:
            _drop(schemas)
        except BaseException as exc:  # kept for finish_drops: a thread's error is otherwise lost
            _drop_failures.append(exc)
        finally:
            _to_drop.task_done()


def _drop(schemas: list[str]) -> None:
    with _admin_engine().begin() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = ANY(:names) AND pid <> pg_backend_pid()"
            ),
            {"names": schemas},
        )
        for schema in schemas:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
