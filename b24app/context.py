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
from b24app.bitrix.pacing import RatePlan, RateState, SharedPacer
from b24app.bitrix.relocation import PortalRelocation
from b24app.config import Settings
from b24app.storage.db import Database, Portal


@dataclass
class VerificationCache:
    """Verified tokens, kept for the lifetime of the token they verified."""

    entries: dict[tuple[str, str, str], VerifiedToken] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    max_entries: int = 10_000

    def get(self, key: tuple[str, str, str]) -> VerifiedToken | None:
        """A still-valid verification, if any."""
        with self.lock:
            hit = self.entries.get(key)
            if hit and hit.expires_at > time.time():
                return hit
            self.entries.pop(key, None)
            return None

    def put(self, key: tuple[str, str, str], value: VerifiedToken) -> None:
        """Remember a verification."""
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
        self.verifications = VerificationCache()
        # The pacer's shared state: Redis when REDIS_URL is set, else the app's database.
        self.rate_state: RateState = db
        if settings.redis_url:
            from b24app.storage.rates import RedisRateState

            self.rate_state = RedisRateState(settings.redis_url)
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
            pacer=SharedPacer(self.rate_state, portal.client_endpoint, self.rate_plan),
        )

    @property
    def rate_plan(self) -> RatePlan:
        """The limits every portal is paced to."""
        return RatePlan(
            burst=self.settings.rate_burst,
            drain_per_sec=self.settings.rate_drain,
            method_budget_s=self.settings.method_budget,
        )
