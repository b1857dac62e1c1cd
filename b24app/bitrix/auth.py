"""Each user's tokens: read, refreshed once at a time across threads and processes, saved first."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from b24app.bitrix.errors import (
    AuthFailed,
    InvalidClient,
    InvalidGrant,
    OAuthError,
    OAuthTransient,
    TransientError,
)
from b24app.bitrix.oauth import OAuthServer, TokenGrant
from b24app.bitrix.relocation import adopt_reported_endpoint
from b24app.storage.db import Database, Portal, TokenPair

log = logging.getLogger(__name__)

# Refresh this long before the stored expiry, so a call never leaves with a dying token.
EXPIRY_MARGIN = 60.0
# A timeout, 5xx or HTML answer from the OAuth server is tried this often, with backoff.
REFRESH_TRIES = 3
# The refresh lease covers one try (the OAuth server's timeout) and the backoff after it; it
# is renewed before every try, so a slow grant never lets a second refresher in.
LEASE_MARGIN = 2.0


def _backoff(attempt: int) -> float:
    return 0.5 * 2 ** (attempt - 1)


class _LeaseLost(Exception):
    """The refresh lease lapsed and another refresher holds it now."""


CREDENTIALS_ALARM = "app_credentials_invalid"
_process_locks: dict[tuple[int, int], threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(key: tuple[int, int]) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


@dataclass(frozen=True)
class CredentialGuard:
    """When invalid_client answers from several portals mean our own credentials are wrong."""

    fingerprint: str
    portals: int = 3
    window: float = 600.0


class UserTokens:
    """The token source of one Bitrix24 user on one portal (implements ``TokenSource``)."""

    def __init__(
        self,
        db: Database,
        oauth: OAuthServer,
        portal: Portal,
        user_id: int,
        *,
        guard: CredentialGuard | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        allow_insecure: bool = False,
    ) -> None:
        self.allow_insecure = allow_insecure
        self.db = db
        self.oauth = oauth
        self.portal = portal
        self.user_id = user_id
        self.guard = guard or CredentialGuard(fingerprint="")
        self.clock = clock
        self.sleep = sleep
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def _refusal(self) -> AuthFailed | None:
        """Why no refresh may be tried now, if any (an alarm, or this portal refused us)."""
        if self.db.alarm_active(CREDENTIALS_ALARM, fingerprint=self.guard.fingerprint):
            return AuthFailed(
                "app_credentials_invalid",
                "the app's own credentials are refused; an operator has been alerted",
            )
        portal = self.db.get_portal(portal_id=self.portal.id)
        if portal is not None and portal.app_credentials_invalid:
            return AuthFailed(
                "app_credentials_invalid",
                "this portal refuses the app's credentials; reinstall or reopen the app",
            )
        return None

    def _stored(self) -> TokenPair:
        pair = self.db.get_token(self.portal.id, self.user_id)
        if pair is None:
            raise AuthFailed("no_token", "this user has not opened the app on this portal")
        if pair.status != "active":
            raise AuthFailed(pair.status, "the user must open the app again to re-authorise it")
        return pair

    def access_token(self) -> str:
        """The stored access token, refreshed first when its stored expiry has passed."""
        pair = self._stored()
        if pair.expires_at - EXPIRY_MARGIN <= self.clock():
            return self.refresh(pair.access_token)
        return pair.access_token

    @property
    def lease_seconds(self) -> float:
        """How long one try holds the refresh lease."""
        return self.oauth.timeout + LEASE_MARGIN

    def refresh(self, stale_token: str) -> str:
        """Refresh once: one caller holds the lease, the others use what it stored."""
        with _process_lock((self.portal.id, self.user_id)):
            # long enough to wait out a holder's every try
            deadline = self.clock() + REFRESH_TRIES * (self.lease_seconds + 1) + 5
            while True:
                pair = self._stored()
                if (
                    pair.access_token != stale_token
                    and pair.expires_at - EXPIRY_MARGIN > self.clock()
                ):
                    return pair.access_token
                refusal = self._refusal()
                if refusal is not None:
                    raise refusal
                if self.db.take_refresh_lease(
                    self.portal.id,
                    self.user_id,
                    version=pair.version,
                    owner=self.owner,
                    seconds=self.lease_seconds,
                ):
                    try:
                        return self._refresh_holding_lease(pair)
                    except _LeaseLost:
                        log.warning(
                            "refresh lease of portal=%s user=%s lapsed; waiting for the new holder",
                            self.portal.member_id,
                            self.user_id,
                        )
                if self.clock() > deadline:
                    raise TransientError("REFRESH_BUSY", "another process is refreshing this token")
                self.sleep(0.2)

    def _grant(self, pair: TokenPair) -> TokenGrant:
        """The refresh grant, tried again after transient faults (timeouts, 5xx, HTML)."""
        for attempt in range(1, REFRESH_TRIES + 1):
            # Renew before sending: a lease that lapsed may be someone else's now, and a
            # refresh token sent twice kills the pair.
            if attempt > 1 and not self.db.renew_refresh_lease(
                self.portal.id,
                self.user_id,
                version=pair.version,
                owner=self.owner,
                seconds=self.lease_seconds,
            ):
                raise _LeaseLost()
            try:
                return self.oauth.refresh(pair.refresh_token)
            except OAuthTransient as exc:
                log.warning(
                    "OAuth server unavailable (%s) refreshing portal=%s user=%s, try %d of %d",
                    exc.code,
                    self.portal.member_id,
                    self.user_id,
                    attempt,
                    REFRESH_TRIES,
                )
                if attempt == REFRESH_TRIES:
                    raise
                self.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    def _credentials_refused(self) -> None:
        """Mark this portal; several within the window raise the operator alarm."""
        count = self.db.record_credentials_rejected(self.portal.id, window=self.guard.window)
        log.error(
            "refresh refused (invalid_client) portal=%s: marked app_credentials_invalid",
            self.portal.member_id,
        )
        if count >= self.guard.portals and self.db.raise_alarm(
            CREDENTIALS_ALARM,
            fingerprint=self.guard.fingerprint,
            detail=f"{count} portals answered invalid_client within {int(self.guard.window)} s",
        ):
            log.critical(
                "OPERATOR ALERT: %d portals refused the app's client credentials "
                "(invalid_client) within %d s. Token refresh is stopped for every portal "
                "until B24_CLIENT_ID/B24_CLIENT_SECRET change or `b24app "
                "clear-credentials-alarm` is run.",
                count,
                int(self.guard.window),
            )

    def _refresh_holding_lease(self, pair: TokenPair) -> str:
        try:
            grant = self._grant(pair)
        except InvalidGrant as exc:
            self.db.release_refresh_lease(self.portal.id, self.user_id, self.owner)
            # Only the pair we sent is dead: one stored meanwhile (the user reopened the app,
            # or another refresher won) is fresh and is used instead.
            if not self.db.set_token_status(
                self.portal.id, self.user_id, "reauth_required", expected_version=pair.version
            ):
                newer = self._stored()
                if newer.access_token != pair.access_token:
                    return newer.access_token
            log.warning(
                "refresh refused (invalid_grant) portal=%s user=%s: re-authorisation needed",
                self.portal.member_id,
                self.user_id,
            )
            raise AuthFailed("reauth_required", "the user must open the app again") from exc
        except InvalidClient as exc:
            self.db.release_refresh_lease(self.portal.id, self.user_id, self.owner)
            self._credentials_refused()
            raise AuthFailed(
                "app_credentials_invalid", "the OAuth server refused the app's credentials"
            ) from exc
        except OAuthTransient as exc:
            self.db.release_refresh_lease(self.portal.id, self.user_id, self.owner)
            raise TransientError("OAUTH_UNAVAILABLE", exc.code) from exc
        except OAuthError as exc:
            self.db.release_refresh_lease(self.portal.id, self.user_id, self.owner)
            raise AuthFailed(exc.code, "the OAuth server refused the refresh") from exc
        if grant.member_id and grant.member_id != self.portal.member_id:
            self.db.release_refresh_lease(self.portal.id, self.user_id, self.owner)
            log.error(
                "security: token answer for another member_id rejected (expected %s)",
                self.portal.member_id,
            )
            raise AuthFailed("member_mismatch", "the OAuth server answered for another portal")
        if grant.user_id is not None and grant.user_id != self.user_id:
            # Another user's pair must never act as this one; ours was spent on the request.
            self.db.release_refresh_lease(self.portal.id, self.user_id, self.owner)
            self.db.set_token_status(
                self.portal.id, self.user_id, "reauth_required", expected_version=pair.version
            )
            log.error(
                "security: token answer for another user rejected (portal=%s user=%s)",
                self.portal.member_id,
                self.user_id,
            )
            raise AuthFailed("user_mismatch", "the OAuth server answered for another user")
        if not self.db.swap_token(
            portal_id=self.portal.id,
            user_id=self.user_id,
            expected_version=pair.version,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
        ):
            # A newer pair was stored meanwhile (the user reopened the app); it wins.
            return self._stored().access_token
        if grant.member_id == self.portal.member_id and grant.client_endpoint:
            # CASE-03: the trusted server's answer names the portal's REST base
            adopt_reported_endpoint(
                self.db, self.portal, grant.client_endpoint, allow_insecure=self.allow_insecure
            )
        return grant.access_token


class StaticToken:
    """A token source for one call made with a token that must not be refreshed or stored."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        """The token as given."""
        return self._token

    def refresh(self, stale_token: str) -> str:
        """Never refreshes: the caller's token is all there is."""
        raise AuthFailed("expired_token", "the posted token has expired")
