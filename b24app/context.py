"""The app's long-lived parts, built once per process and shared by web and jobs."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter

from b24app.bitrix.auth import CredentialGuard, UserTokens
from b24app.bitrix.client import RestClient
from b24app.bitrix.oauth import OAuthServer, VerifiedToken, pick_oauth_server
from b24app.bitrix.pacing import RatePlan, RateStore, SharedPacer
from b24app.bitrix.relocation import PortalRelocation
from b24app.config import Settings
from b24app.storage.db import Database, Portal


@dataclass
class VerificationCache:
    """Confirmed frame tokens, kept for the lifetime of the token they confirmed.

    This process remembers them, and so does the database, so that a reopening served by
    another process (gunicorn runs several) costs no round trip to the OAuth server either.
    Only confirmations of an installed app are kept: one that says installation is unfinished
    is asked again, since the admin may finish it with the same token a moment later.
    """

    db: Database
    entries: dict[tuple[str, str, str], VerifiedToken] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    max_entries: int = 10_000

    def get(self, access_token: str, member_id: str, domain: str) -> VerifiedToken | None:
        """A still-valid confirmation, if any."""
        key = self._memory_key(access_token, member_id, domain)
        with self.lock:
            hit = self.entries.get(key)
            if hit and hit.expires_at > time.time():
                return hit
            self.entries.pop(key, None)
        row = self.db.recall_verification(self.db.verification_key(access_token, member_id, domain))
        if row is None or row["member_id"] != member_id or row["domain"] != domain:
            return None
        hit = VerifiedToken(
            user_id=int(row["user_id"]),
            member_id=member_id,
            domain=domain,
            client_endpoint=str(row["client_endpoint"]),
            installed=True,
            expires_at=float(row["expires_at"]),
        )
        self._keep(key, hit)
        return hit

    def put(self, access_token: str, verified: VerifiedToken) -> None:
        """Remember a confirmation (of an installed app only)."""
        if not verified.installed or verified.expires_at <= time.time():
            return
        self._keep(self._memory_key(access_token, verified.member_id, verified.domain), verified)
        self.db.remember_verification(
            self.db.verification_key(access_token, verified.member_id, verified.domain),
            {
                "user_id": verified.user_id,
                "member_id": verified.member_id,
                "domain": verified.domain,
                "client_endpoint": verified.client_endpoint,
                "expires_at": verified.expires_at,
            },
        )

    def forget_portal(self, member_id: str) -> None:
        """Drop this process's confirmations for a portal (the database's go with it)."""
        with self.lock:
            for key in [k for k in self.entries if k[1] == member_id]:
                del self.entries[key]

    @staticmethod
    def _memory_key(access_token: str, member_id: str, domain: str) -> tuple[str, str, str]:
        return (hashlib.sha256(access_token.encode("utf-8")).hexdigest(), member_id, domain)

    def _keep(self, key: tuple[str, str, str], value: VerifiedToken) -> None:
        with self.lock:
            if len(self.entries) >= self.max_entries:
                now = time.time()
                for stale in [k for k, v in self.entries.items() if v.expires_at <= now]:
                    del self.entries[stale]
                if len(self.entries) >= self.max_entries:
                    self.entries.clear()
            self.entries[key] = value


class AppContext:
    """Settings, database and the one pooled HTTP session every outbound call uses."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.http = requests.Session()
        adapter = HTTPAdapter(pool_connections=32, pool_maxsize=32)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.verifications = VerificationCache(db)
        self.rate_store: RateStore = db
        if settings.redis_url:
            from b24app.storage.redis_rates import RedisRateStore

            self.rate_store = RedisRateStore(settings.redis_url)
        # A hash naming our credentials (never the secret): an alarm raised for them is void
        # once the operator starts the app with other ones.
        fingerprint = hashlib.sha256(
            f"b24app-credentials\0{settings.client_id}\0{settings.client_secret}".encode()
        ).hexdigest()
        self.credential_guard = CredentialGuard(
            fingerprint=fingerprint,
            portals=settings.credentials_alarm_portals,
            window=settings.credentials_alarm_window,
        )

    def oauth_server(self, named: str | None = None) -> OAuthServer:
        """The trusted OAuth server a payload names, or the default one."""
        origin = pick_oauth_server(named, self.settings.oauth_servers)
        return OAuthServer(
            origin,
            self.settings.client_id,
            self.settings.client_secret,
            timeout=min(15.0, self.settings.http_timeout),
            session=self.http,
        )

    def user_tokens(self, portal: Portal, user_id: int) -> UserTokens:
        """The token source of one user of one portal."""
        return UserTokens(
            self.db,
            self.oauth_server(portal.server_endpoint),
            portal,
            user_id,
            guard=self.credential_guard,
            allow_insecure=self.settings.allow_insecure,
        )

    def rest(self, portal: Portal, user_id: int) -> RestClient:
        """A REST client acting as that user on that portal (following a confirmed rename)."""
        tokens = self.user_tokens(portal, user_id)
        return RestClient(
            self.http,
            portal.client_endpoint,
            tokens,
            timeout=self.settings.http_timeout,
            relocator=PortalRelocation(
                self.db, tokens.oauth, portal, allow_insecure=self.settings.allow_insecure
            ),
            pacer=SharedPacer(self.rate_store, portal.client_endpoint, self.rate_plan),
        )

    @property
    def rate_plan(self) -> RatePlan:
        """The limits every portal is paced to."""
        return RatePlan(
            burst=self.settings.rate_burst,
            drain_per_sec=self.settings.rate_drain,
            method_budget_s=self.settings.method_budget,
        )
