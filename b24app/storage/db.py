"""The one gateway to the database: portals, tokens, jobs and their results."""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from b24app.storage import migrate
from b24app.storage.migrate import SchemaState
from b24app.storage.schema import (
    alarms,
    event_deliveries,
    jobs,
    merge_claims,
    merge_history,
    merge_items,
    method_budgets,
    not_duplicates,
    oauth_states,
    portals,
    rate_buckets,
    scan_groups,
    tokens,
    verified_tokens,
)

T = TypeVar("T")
RateChange = Callable[[dict[str, Any]], tuple[dict[str, Any] | None, T]]
_RATE_TABLES = {"bucket": rate_buckets, "budget": method_budgets}

ACTIVE_JOB_STATES = ("queued", "running")
# Statements the UI's polling runs many times a second, built once.
_PORTAL_STATE = sa.select(portals.c.state).where(portals.c.id == sa.bindparam("portal_id"))
# What a merge job's progress answer is made of, in one small row: if none of it changed, the
# answer did not either. A group's outcome is written once (calling -> outcome) and never
# again, so the number of groups with an outcome says which are there.
_MERGE_VERSION = (
    sa.select(
        portals.c.state,
        jobs.c.status,
        jobs.c.progress_done,
        jobs.c.progress_total,
        jobs.c.error_code,
        jobs.c.error_message,
        jobs.c.finished_at,
        sa.select(sa.func.count())
        .select_from(merge_items)
        .where(
            merge_items.c.job_id == jobs.c.id,
            merge_items.c.status.in_(("SUCCESS", "CONFLICT", "ERROR")),
        )
        .scalar_subquery()
        .label("outcomes"),
    )
    .select_from(jobs.join(portals, portals.c.id == jobs.c.portal_id))
    .where(
        jobs.c.id == sa.bindparam("job_id"),
        jobs.c.portal_id == sa.bindparam("portal_id"),
        jobs.c.user_id == sa.bindparam("user_id"),
        jobs.c.kind == "merge",
    )
)
# One merge job of a portal and user with its portal's state and every group's result, in one
# statement: the UI polls it, and every round trip to the database costs a thread its turn.
_MERGE_PROGRESS = (
    sa.select(
        jobs,
        portals.c.state.label("portal_state"),
        merge_items.c.entity_ids.label("item_entity_ids"),
        merge_items.c.status.label("item_status"),
        merge_items.c.kept_id.label("item_kept_id"),
        merge_items.c.merged_ids.label("item_merged_ids"),
        merge_items.c.manual_merge_url.label("item_manual_merge_url"),
        merge_items.c.error_code.label("item_error_code"),
        merge_items.c.error_message.label("item_error_message"),
    )
    .select_from(
        jobs.join(portals, portals.c.id == jobs.c.portal_id).outerjoin(
            merge_items, merge_items.c.job_id == jobs.c.id
        )
    )
    .where(
        jobs.c.id == sa.bindparam("job_id"),
        jobs.c.portal_id == sa.bindparam("portal_id"),
        jobs.c.user_id == sa.bindparam("user_id"),
        jobs.c.kind == "merge",
    )
    .order_by(merge_items.c.position)
)
# Stored application_tokens look like "hmac-sha256:<key id>:<hex>" (b24app.security).
DIGEST_PREFIX = "hmac-sha256"
MERGE_OUTCOMES = ("SUCCESS", "CONFLICT", "ERROR")


class Cipher(Protocol):
    """Encrypts secrets before they are stored (see ``b24app.security.TokenCipher``)."""

    def encrypt(self, plain: str) -> str:
        """Ciphertext of a secret."""

    def decrypt(self, stored: str) -> str:
        """The secret back; raises when no key fits."""

    def rotate(self, stored: str) -> str:
        """The same secret under the current key."""

    def digest(self, plain: str) -> str:
        """The keyed hash of a secret that is only ever compared."""

    def digest_matches(self, plain: str, stored: str) -> bool | None:
        """A constant-time check against a stored hash; None when no configured key reads it."""

    def digest_is_current(self, stored: str) -> bool:
        """Whether a stored hash is under the current key."""


@dataclass(frozen=True)
class Portal:
    """An installation of the app on one Bitrix24 portal."""

    id: int
    member_id: str
    domain: str
    scheme: str
    client_endpoint: str
    server_endpoint: str
    # its keyed hash (see Database.application_token_matches), never the token itself
    application_token: str | None
    language: str | None
    phone_region: str | None
    state: str
    app_version: str | None
    setup_error: str | None
    credentials_rejected_at: float | None = None
    created_at: float = 0.0

    @property
    def app_credentials_invalid(self) -> bool:
        """The portal's OAuth server refused our client credentials (invalid_client)."""
        return self.credentials_rejected_at is not None

    @property
    def base_url(self) -> str:
        """The portal's own origin, e.g. https://portal.bitrix24.com."""
        return f"{self.scheme}://{self.domain}"


@dataclass(frozen=True)
class TokenPair:
    """One Bitrix24 user's OAuth tokens for one portal."""

    portal_id: int
    user_id: int
    access_token: str
    refresh_token: str
    expires_at: float
    version: int
    status: str
    is_installer: bool


@dataclass(frozen=True)
class Job:
    """A background scan or merge."""

    id: str
    portal_id: int
    user_id: int
    kind: str
    entity_type_id: int
    params: dict[str, Any]
    status: str
    progress_done: int
    progress_total: int | None
    groups_total: int
    error_code: str | None
    error_message: str | None
    stats: dict[str, Any] | None
    cancel_requested: bool
    claimed_by: str | None
    heartbeat_at: float | None
    created_at: float
    finished_at: float | None = None


def _fit(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """Text a portal sent, made storable everywhere: without NUL characters (PostgreSQL's
    text types refuse them) and cut to its column's length (PostgreSQL enforces it)."""
    fitted: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = value.replace("\x00", "")
            column = table.c.get(key)
            length = getattr(column.type, "length", None) if column is not None else None
            if length:
                value = value[:length]
        fitted[key] = value
    return fitted


def normalize_url(url: str) -> str:
    """A database URL with its driver named: bare ``postgres(ql)://`` means psycopg 3."""
    for bare in ("postgres://", "postgresql://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url


class ClaimConflict(Exception):
    """An entity ID is already held by an active merge job."""


class PortalInstalled(Exception):
    """A purge was asked for a portal that has not uninstalled the app (its state)."""


def _portal(row: RowMapping) -> Portal:
    return Portal(
        id=row["id"],
        member_id=row["member_id"],
        domain=row["domain"],
        scheme=row["scheme"],
        client_endpoint=row["client_endpoint"],
        server_endpoint=row["server_endpoint"],
        application_token=row["application_token"],
        language=row["language"],
        phone_region=row["phone_region"],
        state=row["state"],
        app_version=row["app_version"],
        setup_error=row["setup_error"],
        credentials_rejected_at=row["credentials_rejected_at"],
        created_at=row["created_at"],
    )


class _PlainText:
    """No encryption: only for tools that never touch tokens (``init-db``)."""

    def encrypt(self, plain: str) -> str:
        raise RuntimeError("this Database was opened without a token cipher")

    decrypt = rotate = digest = encrypt

    def digest_matches(self, plain: str, stored: str) -> bool | None:
        raise RuntimeError("this Database was opened without a token cipher")

    def digest_is_current(self, stored: str) -> bool:
        raise RuntimeError("this Database was opened without a token cipher")


def _job(row: RowMapping) -> Job:
    return Job(
        id=row["id"],
        portal_id=row["portal_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        entity_type_id=row["entity_type_id"],
        params=dict(row["params"] or {}),
        status=row["status"],
        progress_done=row["progress_done"],
        progress_total=row["progress_total"],
        groups_total=row["groups_total"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        stats=row["stats"],
        cancel_requested=bool(row["cancel_requested"]),
        claimed_by=row["claimed_by"],
        heartbeat_at=row["heartbeat_at"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


class Database:
    """Typed operations over the app's tables; every write runs in its own transaction."""

    def __init__(self, url: str, *, cipher: Cipher | None = None, echo: bool = False) -> None:
        self.cipher: Cipher = cipher or _PlainText()
        url = normalize_url(url)
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("sqlite"):
            # Several threads (request handlers, the job worker) share the file.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            # A server restarts or a proxy drops idle connections: test each one before use.
            kwargs["pool_pre_ping"] = True
            if url.startswith("postgresql"):
                # The compare-and-swap writes rely on READ COMMITTED: a competing UPDATE waits
                # for the first to commit, re-reads the row and finds the version moved on. A
                # server whose default is stricter would fail them with serialization errors.
                kwargs["isolation_level"] = "READ COMMITTED"
        self.engine: Engine = sa.create_engine(url, **kwargs)
        self.reader: Engine = self.engine
        if url.startswith("sqlite"):
            # Writes start with BEGIN IMMEDIATE: a transaction that reads and then writes would
            # otherwise fail at once with "database is locked" when another writer got in
            # between (SQLite does not wait in that case). pysqlite's own transaction handling
            # is switched off for this, which also makes SAVEPOINT work (SQLAlchemy's recipe).
            sa.event.listen(self.engine, "connect", _sqlite_writer)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
            # Plain reads go through a second pool that never takes the write lock
            # (an in-memory database exists once per connection, so it keeps one engine).
            if ":memory:" not in url and url.rstrip("/") not in ("sqlite:", "sqlite+pysqlite:"):
                self.reader = sa.create_engine(url, **kwargs)
                sa.event.listen(self.reader, "connect", _sqlite_pragmas)

    def upgrade_schema(self) -> SchemaState:
        """Bring the schema to the newest revision (idempotent; one process at a time)."""
        return migrate.upgrade(self.engine)

    def create_tables(self) -> None:
        """Upgrade the schema, and create any table that is missing (what the app does at start)."""
        migrate.upgrade(self.engine, repair=True)

    def close(self) -> None:
        """Close every pooled connection (a test's end, a process's shutdown)."""
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    def ping(self) -> None:
        """Raise unless the database answers a query on the app's own tables."""
        with self.reader.connect() as conn:
            conn.execute(sa.select(portals.c.id).limit(1)).all()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside a transaction."""
        with self.engine.begin() as conn:
            yield conn

    # -- portals -------------------------------------------------------------------------

    def get_portal(
        self, *, member_id: str | None = None, portal_id: int | None = None
    ) -> Portal | None:
        """Look a portal up by member_id or by our own ID."""
        query = sa.select(portals)
        if member_id is not None:
            query = query.where(portals.c.member_id == member_id)
        elif portal_id is not None:
            query = query.where(portals.c.id == portal_id)
        else:
            raise ValueError("member_id or portal_id is required")
        with self.reader.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _portal(row) if row else None

    def upsert_portal(
        self,
        *,
        member_id: str,
        domain: str,
        scheme: str,
        client_endpoint: str,
        server_endpoint: str,
        language: str | None = None,
        phone_region: str | None = None,
        application_token: str | None = None,
    ) -> Portal:
        """Create the one record per member_id, or refresh what changed on it."""
        now = time.time()
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(portals).where(portals.c.member_id == member_id))
                .mappings()
                .first()
            )
            values: dict[str, Any] = {
                "domain": domain,
                "scheme": scheme,
                "client_endpoint": client_endpoint,
                "server_endpoint": server_endpoint,
                "updated_at": now,
                # the portal just handed us fresh, verified tokens
                "credentials_rejected_at": None,
            }
            if language:
                values["language"] = language
            if application_token:
                values["application_token"] = self.cipher.digest(application_token)
            if row is None:
                values.update(
                    member_id=member_id,
                    created_at=now,
                    state="new",
                    state_changed_at=now,
                    phone_region=phone_region,
                )
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(portals).values(**values))
                except IntegrityError:
                    # Another request inserted it first: update that record instead.
                    row = (
                        conn.execute(sa.select(portals).where(portals.c.member_id == member_id))
                        .mappings()
                        .first()
                    )
                    for key in (
                        "member_id",
                        "created_at",
                        "state",
                        "state_changed_at",
                        "phone_region",
                    ):
                        values.pop(key, None)
            if row is not None:
                if row["state"] in ("uninstalled", "need_reinstall"):
                    values.update(state="new", state_changed_at=now)
                conn.execute(
                    sa.update(portals).where(portals.c.member_id == member_id).values(**values)
                )
            fresh = (
                conn.execute(sa.select(portals).where(portals.c.member_id == member_id))
                .mappings()
                .one()
            )
        return _portal(fresh)

    def update_portal(self, portal_id: int, **values: Any) -> None:
        """Set columns of one portal (an application_token is stored as its keyed hash)."""
        values["updated_at"] = time.time()
        if values.get("application_token"):
            values["application_token"] = self.cipher.digest(values["application_token"])
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(portals).where(portals.c.id == portal_id).values(**_fit(portals, values))
            )

    def application_token_matches(self, portal: Portal, token: str | None) -> bool | None:
        """Whether ``token`` is the portal's application_token (constant-time, keyed hash).

        None when the portal holds none, or its hash is under a key no longer configured.
        A match under an old key (or a value stored before hashing) is re-hashed under the
        current key, so key rotation completes as portals call in.
        """
        stored = portal.application_token
        if not stored:
            return None
        matches = self.cipher.digest_matches(token or "", stored)
        if matches is None:
            logging.getLogger(__name__).warning(
                "the stored application_token of portal %s is hashed under a key that is no "
                "longer configured (B24_TOKEN_KEYS_OLD); it counts as absent until renewed",
                portal.member_id,
            )
        elif matches and token and not self.cipher.digest_is_current(stored):
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(portals)
                    .where(portals.c.id == portal.id, portals.c.application_token == stored)
                    .values(application_token=self.cipher.digest(token))
                )
        return matches

    def record_credentials_rejected(self, portal_id: int, *, window: float) -> int:
        """Mark a portal app_credentials_invalid; how many portals were marked within window."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(portals)
                .where(portals.c.id == portal_id)
                .values(credentials_rejected_at=now, updated_at=now)
            )
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(portals)
                .where(portals.c.credentials_rejected_at >= now - window)
            ).scalar()
        return int(count or 0)

    def raise_alarm(self, name: str, *, fingerprint: str, detail: str) -> bool:
        """Raise an app-wide alarm; False when it was already up for these credentials."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(alarms).where(alarms.c.name == name)).mappings().first()
            if row is not None and row["fingerprint"] == fingerprint:
                return False
            conn.execute(sa.delete(alarms).where(alarms.c.name == name))
            conn.execute(
                sa.insert(alarms).values(
                    name=name, fingerprint=fingerprint, detail=detail, raised_at=time.time()
                )
            )
        return True

    def alarm_active(self, name: str, *, fingerprint: str) -> bool:
        """Whether an alarm is up for these credentials (one for other credentials is not)."""
        with self.reader.connect() as conn:
            stored = conn.execute(
                sa.select(alarms.c.fingerprint).where(alarms.c.name == name)
            ).scalar()
        return stored is not None and stored == fingerprint

    def clear_alarm(self, name: str) -> bool:
        """Clear an alarm (an operator's decision); False when none was up."""
        with self.engine.begin() as conn:
            result = conn.execute(sa.delete(alarms).where(alarms.c.name == name))
            if name == "app_credentials_invalid":
                conn.execute(sa.update(portals).values(credentials_rejected_at=None))
        return result.rowcount > 0

    def mark_stale_installs(self, *, older_than: float) -> list[str]:
        """Portals ``new`` since before ``older_than`` become need_reinstall (CASE-07).

        Timed from when the portal became ``new`` (a reinstall restarts the clock).
        """
        now = time.time()
        since = sa.func.coalesce(portals.c.state_changed_at, portals.c.created_at)
        with self.engine.begin() as conn:
            stale = [
                row[0]
                for row in conn.execute(
                    sa.select(portals.c.member_id).where(
                        portals.c.state == "new", since < older_than
                    )
                )
            ]
            if stale:
                conn.execute(
                    sa.update(portals)
                    .where(portals.c.member_id.in_(stale), portals.c.state == "new")
                    .values(state="need_reinstall", state_changed_at=now, updated_at=now)
                )
        return stale

    def find_portals(self, *, domain: str) -> list[Portal]:
        """Portals by their domain (normally one; a renamed portal's old name finds none)."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(portals)
                .where(sa.func.lower(portals.c.domain) == domain.strip().lower())
                .order_by(portals.c.id)
            ).mappings()
            return [_portal(row) for row in rows]

    def purge_portal(self, portal_id: int) -> dict[str, int]:
        """Delete everything stored about an uninstalled portal, its own record last.

        Raises PortalInstalled when the portal is not in the ``uninstalled`` state (checked in
        the same transaction, so a reinstall arriving meanwhile is never purged).
        """
        counts: dict[str, int] = {}
        with self.engine.begin() as conn:
            row = (
                conn.execute(
                    sa.select(portals.c.state, portals.c.client_endpoint)
                    .where(portals.c.id == portal_id)
                    .with_for_update()
                )
                .mappings()
                .first()
            )
            if row is None:
                raise LookupError(f"no portal with id {portal_id}")
            if row["state"] != "uninstalled":
                raise PortalInstalled(row["state"])
            job_ids = sa.select(jobs.c.id).where(jobs.c.portal_id == portal_id)
            steps: list[tuple[str, Any]] = [
                ("scan groups", sa.delete(scan_groups).where(scan_groups.c.job_id.in_(job_ids))),
                ("merge items", sa.delete(merge_items).where(merge_items.c.job_id.in_(job_ids))),
                (
                    "merge claims",
                    sa.delete(merge_claims).where(merge_claims.c.portal_id == portal_id),
                ),
                ("jobs", sa.delete(jobs).where(jobs.c.portal_id == portal_id)),
                (
                    "merge history",
                    sa.delete(merge_history).where(merge_history.c.portal_id == portal_id),
                ),
                (
                    "not-duplicates marks",
                    sa.delete(not_duplicates).where(not_duplicates.c.portal_id == portal_id),
                ),
                (
                    "oauth states",
                    sa.delete(oauth_states).where(oauth_states.c.portal_id == portal_id),
                ),
                ("tokens", sa.delete(tokens).where(tokens.c.portal_id == portal_id)),
                (
                    "rate buckets",
                    sa.delete(rate_buckets).where(rate_buckets.c.portal == row["client_endpoint"]),
                ),
                (
                    "method budgets",
                    sa.delete(method_budgets).where(
                        method_budgets.c.portal == row["client_endpoint"]
                    ),
                ),
                ("portals", sa.delete(portals).where(portals.c.id == portal_id)),
            ]
            for name, statement in steps:
                counts[name] = conn.execute(statement).rowcount
        return counts

    def mark_installed(self, portal_id: int) -> None:
        """Record that set-up completed."""
        now = time.time()
        self.update_portal(
            portal_id, state="installed", state_changed_at=now, installed_at=now, setup_error=None
        )

    def uninstall_portal(self, portal_id: int, *, purge: bool) -> None:
        """Wipe a portal's tokens, fail its active jobs and (with purge) drop its data."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(tokens).where(tokens.c.portal_id == portal_id))
            conn.execute(
                sa.delete(verified_tokens).where(
                    verified_tokens.c.member_id
                    == sa.select(portals.c.member_id)
                    .where(portals.c.id == portal_id)
                    .scalar_subquery()
                )
            )
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.portal_id == portal_id, jobs.c.status.in_(ACTIVE_JOB_STATES))
                .values(
                    status="failed",
                    error_code="portal_uninstalled",
                    error_message="The app was removed from this Bitrix24 portal.",
                    finished_at=now,
                    cancel_requested=True,
                )
            )
            # A job that failed just now because the portal revoked our tokens as it removed
            # the app (the event arrives after the revocation) failed for the same reason.
            conn.execute(
                sa.update(jobs)
                .where(
                    jobs.c.portal_id == portal_id,
                    jobs.c.status == "failed",
                    jobs.c.error_code.in_(("reauth_required", "auth_failed")),
                    jobs.c.finished_at >= now - 60,
                )
                .values(
                    error_code="portal_uninstalled",
                    error_message="The app was removed from this Bitrix24 portal.",
                )
            )
            conn.execute(sa.delete(merge_claims).where(merge_claims.c.portal_id == portal_id))
            if purge:
                job_ids = sa.select(jobs.c.id).where(jobs.c.portal_id == portal_id)
                conn.execute(sa.delete(scan_groups).where(scan_groups.c.job_id.in_(job_ids)))
                conn.execute(sa.delete(merge_items).where(merge_items.c.job_id.in_(job_ids)))
                conn.execute(sa.delete(jobs).where(jobs.c.portal_id == portal_id))
                conn.execute(sa.delete(merge_history).where(merge_history.c.portal_id == portal_id))
                conn.execute(
                    sa.delete(not_duplicates).where(not_duplicates.c.portal_id == portal_id)
                )
            conn.execute(
                sa.update(portals)
                .where(portals.c.id == portal_id)
                .values(
                    state="uninstalled",
                    state_changed_at=now,
                    application_token=None,
                    updated_at=now,
                )
            )

    # -- event deliveries ------------------------------------------------------------------

    def claim_event_delivery(
        self, *, member_id: str, event: str, entity_id: str, ts: str, keep_for: float = 172_800
    ) -> bool:
        """True for the first claim of this delivery in any process; False for a repeat."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(event_deliveries).where(event_deliveries.c.received_at < now - keep_for)
            )
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(event_deliveries).values(
                            member_id=member_id,
                            event=event,
                            entity_id=entity_id,
                            ts=ts,
                            received_at=now,
                        )
                    )
            except IntegrityError:
                return False
        return True

    # -- verified frame tokens -------------------------------------------------------------

    def verification_key(self, access_token: str, member_id: str, domain: str) -> str:
        """The key a confirmed token is kept under: a keyed hash, never the token."""
        return self.cipher.digest(f"{access_token}\0{member_id}\0{domain}")

    def remember_verification(self, key: str, entry: Mapping[str, Any]) -> None:
        """Keep what app.info confirmed (user_id, member_id, domain, client_endpoint,
        expires_at) until it expires; expired entries are dropped on the way."""
        values = {name: entry[name] for name in verified_tokens.c.keys() if name in entry}
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(verified_tokens).where(verified_tokens.c.expires_at < time.time())
            )
            done = conn.execute(
                sa.update(verified_tokens)
                .where(verified_tokens.c.token_digest == key)
                .values(**values)
            ).rowcount
            if not done:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(verified_tokens).values(token_digest=key, **values))
                except IntegrityError:
                    pass  # another process kept the same confirmation first

    def recall_verification(self, key: str) -> dict[str, Any] | None:
        """A kept confirmation that has not expired, if any."""
        with self.reader.connect() as conn:
            row = (
                conn.execute(
                    sa.select(verified_tokens).where(
                        verified_tokens.c.token_digest == key,
                        verified_tokens.c.expires_at > time.time(),
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    # -- OAuth states --------------------------------------------------------------------

    def create_oauth_state(
        self, state_hash: str, *, portal_id: int, user_id: int, expires_at: float
    ) -> None:
        """Remember an issued OAuth ``state`` (its hash) for one portal and user."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(oauth_states).where(oauth_states.c.expires_at < time.time() - 86400)
            )
            conn.execute(
                sa.insert(oauth_states).values(
                    state_hash=state_hash,
                    portal_id=portal_id,
                    user_id=user_id,
                    expires_at=expires_at,
                )
            )

    def consume_oauth_state(self, state_hash: str) -> tuple[int, int] | None:
        """Use a state once: (portal_id, user_id), or None if unknown, used or expired."""
        now = time.time()
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(oauth_states)
                .where(
                    oauth_states.c.state_hash == state_hash,
                    oauth_states.c.used_at.is_(None),
                    oauth_states.c.expires_at > now,
                )
                .values(used_at=now)
            )
            if result.rowcount != 1:
                return None
            row = conn.execute(
                sa.select(oauth_states.c.portal_id, oauth_states.c.user_id).where(
                    oauth_states.c.state_hash == state_hash
                )
            ).one()
        return int(row[0]), int(row[1])

    # -- tokens --------------------------------------------------------------------------

    def _token(self, row: RowMapping) -> TokenPair:
        """A stored pair, decrypted; one no key opens reads as needing re-authorisation."""
        status = row["status"]
        try:
            access = self.cipher.decrypt(row["access_token"])
            refresh = self.cipher.decrypt(row["refresh_token"])
        except Exception:
            logging.getLogger(__name__).warning(
                "stored tokens of portal %s user %s cannot be decrypted with the configured "
                "keys (B24_TOKEN_KEY / B24_TOKEN_KEYS_OLD); the user must open the app again",
                row["portal_id"],
                row["user_id"],
            )
            access = refresh = ""
            status = "reauth_required"
        return TokenPair(
            portal_id=row["portal_id"],
            user_id=row["user_id"],
            access_token=access,
            refresh_token=refresh,
            expires_at=row["expires_at"],
            version=row["version"],
            status=status,
            is_installer=bool(row["is_installer"]),
        )

    def rotate_token_keys(self) -> tuple[int, int]:
        """Re-encrypt every stored token under the current key; (rotated, unreadable)."""
        rotated = unreadable = 0
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(tokens.c.id, tokens.c.access_token, tokens.c.refresh_token)
            ).all()
            for row_id, access, refresh in rows:
                try:
                    values = {
                        "access_token": self.cipher.rotate(access),
                        "refresh_token": self.cipher.rotate(refresh),
                    }
                except Exception:
                    unreadable += 1
                    continue
                conn.execute(sa.update(tokens).where(tokens.c.id == row_id).values(**values))
                rotated += 1
        return rotated, unreadable

    def hash_application_tokens(self) -> tuple[int, int]:
        """Hash application_tokens stored before hashing; (hashed, still under an old key).

        A hash cannot be re-keyed without the token: those under an old key are re-hashed
        when the portal next sends its token (an opening, an event, an update).
        """
        hashed = pending = 0
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(portals.c.id, portals.c.application_token).where(
                    portals.c.application_token.is_not(None)
                )
            ).all()
            for row_id, stored in rows:
                if not stored.startswith(f"{DIGEST_PREFIX}:"):
                    conn.execute(
                        sa.update(portals)
                        .where(portals.c.id == row_id)
                        .values(application_token=self.cipher.digest(stored))
                    )
                    hashed += 1
                elif not self.cipher.digest_is_current(stored):
                    pending += 1
        return hashed, pending

    def get_token(self, portal_id: int, user_id: int) -> TokenPair | None:
        """The stored pair of one user on one portal."""
        with self.reader.connect() as conn:
            row = (
                conn.execute(
                    sa.select(tokens).where(
                        tokens.c.portal_id == portal_id, tokens.c.user_id == user_id
                    )
                )
                .mappings()
                .first()
            )
        return self._token(row) if row else None

    def get_installer_token(self, portal_id: int) -> TokenPair | None:
        """The pair of the admin who installed the app (for set-up work)."""
        with self.reader.connect() as conn:
            row = (
                conn.execute(
                    sa.select(tokens)
                    .where(tokens.c.portal_id == portal_id, tokens.c.is_installer.is_(True))
                    .order_by(tokens.c.updated_at.desc())
                )
                .mappings()
                .first()
            )
        return self._token(row) if row else None

    def any_token(self, portal_id: int) -> TokenPair | None:
        """The most recently stored pair of any user of a portal."""
        with self.reader.connect() as conn:
            row = (
                conn.execute(
                    sa.select(tokens)
                    .where(tokens.c.portal_id == portal_id)
                    .order_by(tokens.c.updated_at.desc())
                )
                .mappings()
                .first()
            )
        return self._token(row) if row else None

    def store_token(
        self,
        *,
        portal_id: int,
        user_id: int,
        access_token: str,
        refresh_token: str,
        expires_at: float,
        scope: str | None = None,
        is_installer: bool = False,
    ) -> TokenPair:
        """Save a pair received from the portal (frame POST, install event); bumps the version."""
        now = time.time()
        with self.engine.begin() as conn:
            row = (
                conn.execute(
                    sa.select(tokens).where(
                        tokens.c.portal_id == portal_id, tokens.c.user_id == user_id
                    )
                )
                .mappings()
                .first()
            )
            values: dict[str, Any] = {
                "access_token": self.cipher.encrypt(access_token),
                "refresh_token": self.cipher.encrypt(refresh_token),
                "expires_at": expires_at,
                "scope": scope,
                "status": "active",
                "updated_at": now,
            }
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            sa.insert(tokens).values(
                                portal_id=portal_id,
                                user_id=user_id,
                                is_installer=is_installer,
                                version=1,
                                **values,
                            )
                        )
                except IntegrityError:
                    # Another request stored this user's first pair at the same moment.
                    row = (
                        conn.execute(
                            sa.select(tokens).where(
                                tokens.c.portal_id == portal_id, tokens.c.user_id == user_id
                            )
                        )
                        .mappings()
                        .first()
                    )
            if row is not None:
                if is_installer:
                    values["is_installer"] = True
                conn.execute(
                    sa.update(tokens)
                    .where(tokens.c.portal_id == portal_id, tokens.c.user_id == user_id)
                    .values(version=tokens.c.version + 1, **values)
                )
            fresh = (
                conn.execute(
                    sa.select(tokens).where(
                        tokens.c.portal_id == portal_id, tokens.c.user_id == user_id
                    )
                )
                .mappings()
                .one()
            )
        return self._token(fresh)

    def swap_token(
        self,
        *,
        portal_id: int,
        user_id: int,
        expected_version: int,
        access_token: str,
        refresh_token: str,
        expires_at: float,
    ) -> bool:
        """Store a refreshed pair only if nobody stored a newer one since we read ours."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(tokens)
                .where(
                    tokens.c.portal_id == portal_id,
                    tokens.c.user_id == user_id,
                    tokens.c.version == expected_version,
                )
                .values(
                    access_token=self.cipher.encrypt(access_token),
                    refresh_token=self.cipher.encrypt(refresh_token),
                    expires_at=expires_at,
                    version=expected_version + 1,
                    status="active",
                    lock_owner=None,
                    lock_until=None,
                    updated_at=time.time(),
                )
            )
        return result.rowcount == 1

    def take_refresh_lease(
        self, portal_id: int, user_id: int, *, version: int, owner: str, seconds: float
    ) -> bool:
        """Become the one refresher of a pair at ``version``; False if someone else is."""
        now = time.time()
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(tokens)
                .where(
                    tokens.c.portal_id == portal_id,
                    tokens.c.user_id == user_id,
                    tokens.c.version == version,
                    sa.or_(tokens.c.lock_until.is_(None), tokens.c.lock_until < now),
                )
                .values(lock_owner=owner, lock_until=now + seconds)
            )
        return result.rowcount == 1

    def renew_refresh_lease(
        self, portal_id: int, user_id: int, *, version: int, owner: str, seconds: float
    ) -> bool:
        """Extend a lease we hold on a pair at ``version``; False if it is no longer ours."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(tokens)
                .where(
                    tokens.c.portal_id == portal_id,
                    tokens.c.user_id == user_id,
                    tokens.c.version == version,
                    tokens.c.lock_owner == owner,
                )
                .values(lock_until=time.time() + seconds)
            )
        return result.rowcount == 1

    def release_refresh_lease(self, portal_id: int, user_id: int, owner: str) -> None:
        """Give a lease back without a new pair (the refresh failed)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(tokens)
                .where(
                    tokens.c.portal_id == portal_id,
                    tokens.c.user_id == user_id,
                    tokens.c.lock_owner == owner,
                )
                .values(lock_owner=None, lock_until=None)
            )

    def set_token_status(
        self, portal_id: int, user_id: int, status: str, *, expected_version: int | None = None
    ) -> bool:
        """Mark a pair (e.g. reauth_required); with ``expected_version``, only that version of
        it (a newer pair stored meanwhile is left alone). True when a row was marked."""
        query = sa.update(tokens).where(
            tokens.c.portal_id == portal_id, tokens.c.user_id == user_id
        )
        if expected_version is not None:
            query = query.where(tokens.c.version == expected_version)
        with self.engine.begin() as conn:
            result = conn.execute(query.values(status=status, updated_at=time.time()))
        return result.rowcount == 1

    # -- jobs ----------------------------------------------------------------------------

    def create_scan_job(
        self, *, portal_id: int, user_id: int, entity_type_id: int, params: dict[str, Any]
    ) -> Job:
        """Queue a scan."""
        job_id = uuid.uuid4().hex
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(jobs).values(
                    id=job_id,
                    portal_id=portal_id,
                    user_id=user_id,
                    kind="scan",
                    entity_type_id=entity_type_id,
                    params=params,
                    status="queued",
                    created_at=now,
                    # for a queued job: when its message was last sent (see lost_queued_jobs)
                    heartbeat_at=now,
                )
            )
        job = self.get_job(job_id)
        assert job is not None
        return job

    def create_merge_job(
        self,
        *,
        portal_id: int,
        user_id: int,
        entity_type_id: int,
        groups: Sequence[Sequence[int]],
        params: dict[str, Any] | None = None,
    ) -> Job:
        """Queue a merge, claiming every ID it touches; raises ClaimConflict if one is held."""
        job_id = uuid.uuid4().hex
        now = time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(jobs).values(
                        id=job_id,
                        portal_id=portal_id,
                        user_id=user_id,
                        kind="merge",
                        entity_type_id=entity_type_id,
                        params=params or {},
                        status="queued",
                        progress_total=len(groups),
                        created_at=now,
                        heartbeat_at=now,
                    )
                )
                conn.execute(
                    sa.insert(merge_claims),
                    [
                        {
                            "portal_id": portal_id,
                            "entity_type_id": entity_type_id,
                            "entity_id": entity_id,
                            "job_id": job_id,
                        }
                        for group in groups
                        for entity_id in group
                    ],
                )
                conn.execute(
                    sa.insert(merge_items),
                    [
                        {
                            "job_id": job_id,
                            "position": position,
                            "entity_ids": list(group),
                            "status": "pending",
                        }
                        for position, group in enumerate(groups)
                    ],
                )
        except IntegrityError as exc:
            raise ClaimConflict(str(exc.orig)) from None
        job = self.get_job(job_id)
        assert job is not None
        return job

    def get_job(self, job_id: str) -> Job | None:
        """One job by ID (callers check that it belongs to the asking portal and user)."""
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return _job(row) if row else None

    def requeue_stale_jobs(self, *, stale_before: float) -> list[str]:
        """Running jobs whose worker stopped beating go back to queued; the IDs this call moved.

        Each move is a compare-and-swap, so of several processes looking only one re-sends
        a job's message.
        """
        with self.reader.connect() as conn:
            stale = [
                row[0]
                for row in conn.execute(
                    sa.select(jobs.c.id).where(
                        jobs.c.status == "running", jobs.c.heartbeat_at < stale_before
                    )
                )
            ]
        moved = []
        for job_id in stale:
            with self.engine.begin() as conn:
                done = conn.execute(
                    sa.update(jobs)
                    .where(
                        jobs.c.id == job_id,
                        jobs.c.status == "running",
                        jobs.c.heartbeat_at < stale_before,
                    )
                    .values(status="queued", claimed_by=None, heartbeat_at=time.time())
                ).rowcount
            if done:
                moved.append(job_id)
        return moved

    def lost_queued_jobs(self, *, older_than: float) -> list[str]:
        """Queued jobs whose message was sent before ``older_than``; marked as sent again now."""
        sent = sa.func.coalesce(jobs.c.heartbeat_at, jobs.c.created_at)
        with self.reader.connect() as conn:
            waiting = [
                row[0]
                for row in conn.execute(
                    sa.select(jobs.c.id)
                    .where(jobs.c.status == "queued", sent < older_than)
                    .order_by(jobs.c.created_at)
                )
            ]
        resent = []
        for job_id in waiting:
            with self.engine.begin() as conn:
                done = conn.execute(
                    sa.update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status == "queued", sent < older_than)
                    .values(heartbeat_at=time.time())
                ).rowcount
            if done:
                resent.append(job_id)
        return resent

    def release_job(self, job_id: str, worker: str) -> bool:
        """Hand a running job back to the queue (its worker is shutting down)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.claimed_by == worker, jobs.c.status == "running")
                .values(status="queued", claimed_by=None, heartbeat_at=time.time())
            ).rowcount
        return bool(done)

    def claim_job(self, job_id: str, worker: str, *, stale_before: float) -> Job | None:
        """Take a job for this worker; exactly one claimant wins (compare-and-swap)."""
        now = time.time()
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(jobs)
                .where(
                    jobs.c.id == job_id,
                    sa.or_(
                        jobs.c.status == "queued",
                        sa.and_(jobs.c.status == "running", jobs.c.heartbeat_at < stale_before),
                    ),
                )
                .values(
                    status="running",
                    claimed_by=worker,
                    heartbeat_at=now,
                    started_at=sa.func.coalesce(jobs.c.started_at, now),
                )
            )
        if result.rowcount != 1:
            return None
        return self.get_job(job_id)

    def heartbeat(self, job_id: str, worker: str, **values: Any) -> bool:
        """Record progress; returns False when the job was cancelled or taken from us."""
        values["heartbeat_at"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.claimed_by == worker, jobs.c.status == "running")
                .values(**values)
            )
            row = conn.execute(
                sa.select(jobs.c.status, jobs.c.cancel_requested, jobs.c.claimed_by).where(
                    jobs.c.id == job_id
                )
            ).first()
        return bool(row and row[0] == "running" and not row[1] and row[2] == worker)

    def finish_job(
        self,
        job_id: str,
        worker: str,
        status: str,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        **values: Any,
    ) -> None:
        """End a job (done, failed or cancelled) and release its merge claims."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.claimed_by == worker, jobs.c.status == "running")
                .values(
                    **_fit(
                        jobs,
                        {
                            "status": status,
                            "error_code": error_code,
                            "error_message": error_message,
                            "finished_at": time.time(),
                            **values,
                        },
                    )
                )
            )
            conn.execute(sa.delete(merge_claims).where(merge_claims.c.job_id == job_id))

    def request_cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop; a queued job is cancelled at once."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == "queued")
                .values(status="cancelled", cancel_requested=True, finished_at=now)
            )
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == "running")
                .values(cancel_requested=True)
            )
            status = conn.execute(sa.select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
            if status == "cancelled":
                conn.execute(sa.delete(merge_claims).where(merge_claims.c.job_id == job_id))
        return self.get_job(job_id)

    def portal_is_active(self, portal_id: int) -> bool:
        """False once the portal uninstalled the app."""
        with self.reader.connect() as conn:
            state = conn.execute(_PORTAL_STATE, {"portal_id": portal_id}).scalar()
        return state is not None and state != "uninstalled"

    def merge_version(self, job_id: str, *, portal_id: int, user_id: int) -> tuple[Any, ...] | None:
        """What a merge job's progress answer is made of (see ``_MERGE_VERSION``), or None when
        there is no such job of this portal and user, or the portal uninstalled the app."""
        with self.reader.connect() as conn:
            row = conn.execute(
                _MERGE_VERSION, {"job_id": job_id, "portal_id": portal_id, "user_id": user_id}
            ).first()
        if row is None or row[0] == "uninstalled":
            return None
        return tuple(row)

    def merge_progress(
        self, job_id: str, *, portal_id: int, user_id: int
    ) -> tuple[Job, list[dict[str, Any]]] | None:
        """A merge job of this portal and user, with every group's result so far (one read).

        None when there is no such job, or when the portal uninstalled the app.
        """
        with self.reader.connect() as conn:
            rows = (
                conn.execute(
                    _MERGE_PROGRESS,
                    {"job_id": job_id, "portal_id": portal_id, "user_id": user_id},
                )
                .mappings()
                .all()
            )
        if not rows or rows[0]["portal_state"] == "uninstalled":
            return None
        items = [
            {name[len("item_") :]: row[name] for name in row.keys() if name.startswith("item_")}
            for row in rows
            if row["item_status"] is not None
        ]
        return _job(rows[0]), items

    # -- scan results --------------------------------------------------------------------

    def store_scan_results(
        self,
        job_id: str,
        groups: Sequence[dict[str, Any]],
        shared: Sequence[dict[str, Any]],
        *,
        worker: str | None = None,
    ) -> bool:
        """Replace a scan's groups and shared pairs (only while ``worker`` holds the job)."""
        with self.engine.begin() as conn:
            if worker is not None and not _holds(conn, job_id, worker):
                return False
            conn.execute(sa.delete(scan_groups).where(scan_groups.c.job_id == job_id))
            rows = [
                {"job_id": job_id, "kind": kind, "position": position, **item}
                for kind, items in (("group", groups), ("shared", shared))
                for position, item in enumerate(items)
            ]
            if rows:
                conn.execute(sa.insert(scan_groups), rows)
        return True

    def scan_results(
        self, job_id: str, kind: str, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """A page of a scan's groups (or shared pairs), in order."""
        query = (
            sa.select(scan_groups.c.entity_ids, scan_groups.c.matched_on, scan_groups.c.members)
            .where(scan_groups.c.job_id == job_id, scan_groups.c.kind == kind)
            .order_by(scan_groups.c.position)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.reader.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    # -- merge items ---------------------------------------------------------------------

    def merge_items(self, job_id: str) -> list[dict[str, Any]]:
        """Every group of a merge job with its result so far."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(merge_items)
                .where(merge_items.c.job_id == job_id)
                .order_by(merge_items.c.position)
            ).mappings()
            return [dict(row) for row in rows]

    def begin_merge_call(self, job_id: str, position: int, worker: str) -> bool:
        """Record the intent to call (pending -> calling); False when the job is not ours."""
        with self.engine.begin() as conn:
            return _holds(conn, job_id, worker) and _move_item(
                conn, job_id, position, "pending", status="calling", called_at=time.time()
            )

    def reset_merge_call(self, job_id: str, position: int, worker: str) -> bool:
        """The call never ran (or the portal shows it changed nothing): calling -> pending."""
        with self.engine.begin() as conn:
            return _holds(conn, job_id, worker) and _move_item(
                conn, job_id, position, "calling", status="pending", called_at=None
            )

    def record_merge_outcome(
        self, job_id: str, position: int, worker: str, status: str, **values: Any
    ) -> bool:
        """Record one group's outcome (calling -> SUCCESS, CONFLICT or ERROR) and its history.

        Only the worker holding the job writes, and only over the intent, so an outcome is
        recorded once whatever crashed or raced before.
        """
        if status not in MERGE_OUTCOMES:
            raise ValueError(f"not a merge outcome: {status}")
        values = _fit(merge_items, values)  # a portal's error text may be longer than a column
        values.setdefault("finished_at", time.time())
        with self.engine.begin() as conn:
            if not _holds(conn, job_id, worker) or not _move_item(
                conn, job_id, position, "calling", status=status, **values
            ):
                return False
            job = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one()
            entity_ids = conn.execute(
                sa.select(merge_items.c.entity_ids).where(
                    merge_items.c.job_id == job_id, merge_items.c.position == position
                )
            ).scalar_one()
            conn.execute(
                sa.insert(merge_history).values(
                    portal_id=job["portal_id"],
                    job_id=job_id,
                    user_id=job["user_id"],
                    user_name=_fit(
                        merge_history, {"user_name": (job["params"] or {}).get("userName")}
                    )["user_name"],
                    entity_type_id=job["entity_type_id"],
                    entity_ids=list(entity_ids),
                    kept_id=values.get("kept_id"),
                    merged_ids=values.get("merged_ids") or [],
                    status=status,
                    error_code=values.get("error_code"),
                    manual_merge_url=values.get("manual_merge_url"),
                    finished_at=values["finished_at"],
                )
            )
        return True

    # -- merge history -------------------------------------------------------------------

    def merge_history(
        self,
        portal_id: int,
        *,
        status: str | None = None,
        user_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """The portal's merge outcomes, newest first, filtered; and how many match in all."""
        where = _history_where(portal_id, status, user_id, since, until)
        query = (
            sa.select(merge_history)
            .where(*where)
            .order_by(merge_history.c.finished_at.desc(), merge_history.c.id.desc())
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.reader.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(merge_history).where(*where)
            ).scalar()
            rows = [dict(row) for row in conn.execute(query).mappings()]
        return int(total or 0), rows

    def merge_history_counts(
        self,
        portal_id: int,
        *,
        status: str | None = None,
        user_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> dict[str, int]:
        """How many of the filtered merge outcomes ended in each status."""
        where = _history_where(portal_id, status, user_id, since, until)
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(merge_history.c.status, sa.func.count())
                .where(*where)
                .group_by(merge_history.c.status)
            ).all()
        return {str(row[0]): int(row[1]) for row in rows}

    def history_users(self, portal_id: int) -> list[tuple[int, str | None]]:
        """Who merged anything on this portal (user ID and the last name recorded)."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(merge_history.c.user_id, sa.func.max(merge_history.c.user_name))
                .where(merge_history.c.portal_id == portal_id)
                .group_by(merge_history.c.user_id)
                .order_by(merge_history.c.user_id)
            ).all()
        return [(int(row[0]), row[1]) for row in rows]

    # -- "not duplicates" marks ----------------------------------------------------------

    def mark_not_duplicates(
        self, portal_id: int, entity_type_id: int, entity_ids: Sequence[int], user_id: int
    ) -> None:
        """Remember that a person judged these records not to be duplicates (idempotent)."""
        ids = sorted(set(entity_ids))
        key = ",".join(str(i) for i in ids)
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(not_duplicates.c.id).where(
                    not_duplicates.c.portal_id == portal_id,
                    not_duplicates.c.entity_type_id == entity_type_id,
                    not_duplicates.c.ids_key == key,
                )
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(not_duplicates).values(
                        portal_id=portal_id,
                        entity_type_id=entity_type_id,
                        ids_key=key,
                        entity_ids=ids,
                        user_id=user_id,
                        created_at=time.time(),
                    )
                )

    def unmark_not_duplicates(
        self, portal_id: int, entity_type_id: int, entity_ids: Sequence[int]
    ) -> bool:
        """Forget a "not duplicates" mark; False when there was none."""
        key = ",".join(str(i) for i in sorted(set(entity_ids)))
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(not_duplicates).where(
                    not_duplicates.c.portal_id == portal_id,
                    not_duplicates.c.entity_type_id == entity_type_id,
                    not_duplicates.c.ids_key == key,
                )
            )
        return result.rowcount > 0

    def not_duplicate_sets(self, portal_id: int, entity_type_id: int) -> list[frozenset[int]]:
        """The sets of records of one type marked "not duplicates" on this portal."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(not_duplicates.c.entity_ids).where(
                    not_duplicates.c.portal_id == portal_id,
                    not_duplicates.c.entity_type_id == entity_type_id,
                )
            ).all()
        return [frozenset(int(i) for i in row[0]) for row in rows]

    # -- a user's jobs -------------------------------------------------------------------

    def portal_jobs(
        self, portal_id: int, *, status: str | None = None, limit: int = 50
    ) -> list[Job]:
        """A portal's most recent jobs of every user, newest first (for operators)."""
        query = sa.select(jobs).where(jobs.c.portal_id == portal_id)
        if status is not None:
            query = query.where(jobs.c.status == status)
        with self.reader.connect() as conn:
            rows = conn.execute(
                query.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)
            ).mappings()
            return [_job(row) for row in rows]

    def user_jobs(self, portal_id: int, user_id: int, *, limit: int = 20) -> list[Job]:
        """A user's most recent scans and merges, newest first."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(jobs)
                .where(jobs.c.portal_id == portal_id, jobs.c.user_id == user_id)
                .order_by(jobs.c.created_at.desc())
                .limit(limit)
            ).mappings()
            return [_job(row) for row in rows]

    # -- rate state (shared by every process of the app) ---------------------------------

    def change_rate_state(
        self,
        kind: str,
        key: Mapping[str, Any],
        default: Mapping[str, Any],
        change: RateChange[T],
    ) -> T:
        """Read one rate row (``bucket`` or ``budget``), apply ``change``, write it back.

        ``change`` gets the row and answers (new values or None, what to return). The write is a
        compare-and-swap on ``version``, retried when another thread or process got in first.
        """
        table = _RATE_TABLES[kind]
        where = [table.c[name] == value for name, value in key.items()]
        while True:
            with self.engine.begin() as conn:
                row = conn.execute(sa.select(table).where(*where)).mappings().first()
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(sa.insert(table).values(**key, **default, version=1))
                    except IntegrityError:
                        continue  # another process created it: read theirs
                    state = {**key, **default, "version": 1}
                else:
                    state = dict(row)
                new, answer = change(dict(state))
                if new is None:
                    return answer
                done = conn.execute(
                    sa.update(table)
                    .where(*where, table.c.version == state["version"])
                    .values(
                        **{k: v for k, v in new.items() if k not in key and k != "version"},
                        version=state["version"] + 1,
                    )
                ).rowcount
                if done:
                    return answer


def _move_item(conn: Connection, job_id: str, position: int, was: str, **values: Any) -> bool:
    """Compare-and-swap one group's row from status ``was``; False when it was not there."""
    done = conn.execute(
        sa.update(merge_items)
        .where(
            merge_items.c.job_id == job_id,
            merge_items.c.position == position,
            merge_items.c.status == was,
        )
        .values(**values)
    ).rowcount
    return bool(done)


def _holds(conn: Connection, job_id: str, worker: str) -> bool:
    """Whether ``worker`` holds the job (a worker it was taken from must write nothing)."""
    # FOR SHARE on PostgreSQL: a takeover (an UPDATE of the job row) waits for this write to end
    # (SQLite runs one writer at a time anyway and leaves the clause out).
    holder = conn.execute(
        sa.select(jobs.c.claimed_by).where(jobs.c.id == job_id).with_for_update(read=True)
    ).first()
    return holder is not None and holder[0] == worker


def _sqlite_writer(dbapi_connection: Any, record: Any) -> None:
    dbapi_connection.isolation_level = None
    _sqlite_pragmas(dbapi_connection, record)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        _sqlite_wal(cursor)
    finally:
        cursor.close()


def _sqlite_wal(cursor: Any) -> None:
    """Switch the file to WAL once; the mode is stored in the file, so later opens find it set.

    The switch needs the file to itself and SQLite answers "database is locked" at once, without
    waiting, when another process is inside a transaction (two gunicorn workers booting on a new
    file do exactly that), so the switch is retried for a while before giving up.
    """
    deadline = time.monotonic() + 30
    while True:
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() in ("wal", "memory"):
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _history_where(
    portal_id: int,
    status: str | None,
    user_id: int | None,
    since: float | None,
    until: float | None,
) -> list[Any]:
    """The conditions of a filtered look at a portal's merge history."""
    where: list[Any] = [merge_history.c.portal_id == portal_id]
    if status is not None:
        where.append(merge_history.c.status == status)
    if user_id is not None:
        where.append(merge_history.c.user_id == user_id)
    if since is not None:
        where.append(merge_history.c.finished_at >= since)
    if until is not None:
        where.append(merge_history.c.finished_at < until)
    return where
