"""Schema revisions (Alembic): bring a database to the newest one, say where it stands.

Every process may call ``upgrade`` at start; one at a time does the work (an advisory lock on
PostgreSQL, SQLite's write lock), the others then find the schema current. A database that
``create_all`` made before migrations existed is recognised and stamped, not re-created.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from b24app.storage.schema import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
# Tables the revisions after the baseline added, newest last, with the revision that did.
ADDED_AFTER_BASELINE = (
    ("0002", ("b24_rate_buckets", "b24_method_budgets")),
    (
        "0003",
        (
            "b24_queue_tasks",
            "b24_queue_schedule",
            "b24_queue_kv",
            "b24_queue_counters",
            "b24_event_deliveries",
            "b24_verified_tokens",
        ),
    ),
)
# Any fixed number: every process of the app asks PostgreSQL for the same advisory lock.
_LOCK_KEY = 0x62323461_7070  # "b24app"

_scripts: ScriptDirectory | None = None
_scripts_guard = threading.Lock()


class SchemaError(RuntimeError):
    """The database's schema is in a state no revision describes."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its revision, the newest one, and what ``upgrade`` did."""

    current: str | None
    head: str
    action: str = "none"  # none | created | stamped | upgraded | repaired

    @property
    def is_current(self) -> bool:
        """Whether the schema is at the newest revision."""
        return self.current == self.head


def alembic_config() -> Config:
    """An Alembic configuration naming the shipped revisions (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def scripts() -> ScriptDirectory:
    """The revisions shipped with the package, read once per process."""
    global _scripts
    with _scripts_guard:
        if _scripts is None:
            _scripts = ScriptDirectory.from_config(alembic_config())
        return _scripts


def head() -> str:
    """The newest revision."""
    revision = scripts().get_current_head()
    assert revision is not None
    return revision


def configure(env: Any, connection: Connection) -> None:
    """The options every migration run uses (the app's and the ``alembic`` command's)."""
    env.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it: revisions written for it need batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _lock(conn: Connection) -> None:
    """Serialise schema work between processes until this transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # SQLite: the app's engine opens every transaction with BEGIN IMMEDIATE, the write lock.


def _legacy_revision(tables: set[str]) -> str | None:
    """The revision a database made by create_all (no version table) matches, if any."""
    if "b24_portals" not in tables:
        return None
    found = BASELINE
    for revision, added in ADDED_AFTER_BASELINE:
        present = [name for name in added if name in tables]
        if not present:
            break
        if len(present) != len(added):
            raise SchemaError(
                f"the database holds some tables of revision {revision} but not all "
                f"({', '.join(sorted(set(added) - set(present)))} missing): repair it by hand"
            )
        found = revision
    return found


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database (None: empty or made before migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def state(engine: Engine) -> SchemaState:
    """Where the database stands, changing nothing."""
    return SchemaState(current=current_revision(engine), head=head())


def upgrade(engine: Engine, target: str = "head", *, repair: bool = False) -> SchemaState:
    """Bring the schema to ``target``: create it, stamp a pre-migration one, or migrate it.

    ``repair`` then also creates any table of the newest revision that is missing (someone
    dropped it): what ``create_all`` did before migrations existed.
    """
    script = scripts()
    newest = head()
    with engine.begin() as conn:
        _lock(conn)
        context = MigrationContext.configure(conn)
        before = context.get_current_revision()
        action = "none"
        if before is None:
            legacy = _legacy_revision(set(sa.inspect(conn).get_table_names()))
            if legacy is not None:
                context.stamp(script, legacy)
                before, action = legacy, "stamped"
        if before is not None and not _known(script, before):
            # A newer release migrated this database already (a rolling deploy): leave it.
            return SchemaState(current=before, head=newest, action="none")
        destination = newest if target == "head" else target
        if before != destination:
            _run(conn, script, destination)
            action = "created" if before is None else "upgraded"
        after = MigrationContext.configure(conn).get_current_revision()
        if repair and after == newest:
            missing = set(metadata.tables) - set(sa.inspect(conn).get_table_names())
            if missing:
                metadata.create_all(conn, tables=[metadata.tables[name] for name in missing])
                action = "repaired" if action == "none" else action
    return SchemaState(current=after, head=newest, action=action)


def _known(script: ScriptDirectory, revision: str) -> bool:
    """Whether this release ships ``revision``."""
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _run(conn: Connection, script: ScriptDirectory, destination: str) -> None:
    """Apply the revisions between the recorded one and ``destination`` on ``conn``."""

    def steps(revision: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs(destination, revision)

    with EnvironmentContext(alembic_config(), script, fn=steps, destination_rev=destination) as env:
        configure(env, conn)
        with env.begin_transaction():
            env.run_migrations()


def differences(engine: Engine) -> list[Any]:
    """What differs between the database's schema and the app's tables (empty: none)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))
