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

from b24app.storage.schema import (
    alarms,
    jobs,
    merge_claims,
    merge_history,
    merge_items,
    metadata,
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


class ClaimConflict(Exception):
    """An entity ID is already held by an active merge job."""


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
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            # Several threads (request handlers, the job worker) share the file.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
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

    def create_tables(self) -> None:
        """Create any missing table (idempotent)."""
        metadata.create_all(self.engine)

    def ping(self) -> None:
        """Raise unless the database answers."""
        with self.reader.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

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
                    for key in ("member_id", "created_at", "state", "phone_region"):
                        values.pop(key, None)
            if row is not None:
                if row["state"] in ("uninstalled", "need_reinstall"):
                    values["state"] = "new"
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
            conn.execute(sa.update(portals).where(portals.c.id == portal_id).values(**values))

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
        """``new`` portals created before ``older_than`` become need_reinstall (CASE-07)."""
        now = time.time()
        with self.engine.begin() as conn:
            stale = [
                row[0]
                for row in conn.execute(
                    sa.select(portals.c.member_id).where(
                        portals.c.state == "new", portals.c.created_at < older_than
                    )
                )
            ]
            if stale:
                conn.execute(
                    sa.update(portals)
                    .where(portals.c.member_id.in_(stale))
                    .values(state="need_reinstall", updated_at=now)
                )
        return stale

    def mark_installed(self, portal_id: int) -> None:
        """Record that set-up completed."""
        now = time.time()
        self.update_portal(portal_id, state="installed", installed_at=now, setup_error=None)

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
                .values(state="uninstalled", application_token=None, updated_at=now)
            )

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

    def set_token_status(self, portal_id: int, user_id: int, status: str) -> None:
        """Mark a pair (e.g. reauth_required)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(tokens)
                .where(tokens.c.portal_id == portal_id, tokens.c.user_id == user_id)
                .values(status=status, updated_at=time.time())
            )

    # -- jobs ----------------------------------------------------------------------------

    def create_scan_job(
        self, *, portal_id: int, user_id: int, entity_type_id: int, params: dict[str, Any]
    ) -> Job:
        """Queue a scan."""
        job_id = uuid.uuid4().hex
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
                    created_at=time.time(),
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
                        created_at=time.time(),
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

    def queued_job_ids(self, *, stale_before: float, limit: int = 20) -> list[str]:
        """Jobs waiting for a worker, and running jobs whose worker stopped beating."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(jobs.c.id)
                .where(
                    sa.or_(
                        jobs.c.status == "queued",
                        sa.and_(jobs.c.status == "running", jobs.c.heartbeat_at < stale_before),
                    )
                )
                .order_by(jobs.c.created_at)
                .limit(limit)
            ).all()
        return [row[0] for row in rows]

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
                    status=status,
                    error_code=error_code,
                    error_message=error_message,
                    finished_at=time.time(),
                    **values,
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
        portal = self.get_portal(portal_id=portal_id)
        return bool(portal and portal.state != "uninstalled")

    # -- scan results --------------------------------------------------------------------

    def store_scan_results(
        self,
        job_id: str,
        groups: Sequence[dict[str, Any]],
        shared: Sequence[dict[str, Any]],
    ) -> None:
        """Replace a scan's groups and shared pairs."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(scan_groups).where(scan_groups.c.job_id == job_id))
            rows = [
                {"job_id": job_id, "kind": kind, "position": position, **item}
                for kind, items in (("group", groups), ("shared", shared))
                for position, item in enumerate(items)
            ]
            if rows:
                conn.execute(sa.insert(scan_groups), rows)

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

    def set_merge_item(self, job_id: str, position: int, **values: Any) -> None:
        """Record the intent (status calling) or the result of one group.

        An outcome (SUCCESS, CONFLICT, ERROR) also goes into the portal's merge history.
        """
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(merge_items)
                .where(merge_items.c.job_id == job_id, merge_items.c.position == position)
                .values(**values)
            )
            if values.get("status") in MERGE_OUTCOMES:
                job = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
                item = (
                    conn.execute(
                        sa.select(merge_items.c.entity_ids).where(
                            merge_items.c.job_id == job_id, merge_items.c.position == position
                        )
                    )
                    .mappings()
                    .first()
                )
                if job is not None and item is not None:
                    conn.execute(
                        sa.insert(merge_history).values(
                            portal_id=job["portal_id"],
                            job_id=job_id,
                            user_id=job["user_id"],
                            user_name=(job["params"] or {}).get("userName"),
                            entity_type_id=job["entity_type_id"],
                            entity_ids=list(item["entity_ids"]),
                            kept_id=values.get("kept_id"),
                            merged_ids=values.get("merged_ids") or [],
                            status=values["status"],
                            error_code=values.get("error_code"),
                            manual_merge_url=values.get("manual_merge_url"),
                            finished_at=values.get("finished_at") or time.time(),
                        )
                    )

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
