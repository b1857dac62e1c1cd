"""Each user's tokens: read, refreshed once at a time across threads and processes, saved first."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable

from b24app.bitrix.errors import (
    AuthFailed,
    InvalidClient,
    InvalidGrant,
    OAuthError,
    OAuthTransient,
    TransientError,
)
from b24app.bitrix.oauth import OAuthServer
from b24app.storage.db import Database, Portal, TokenPair

log = logging.getLogger(__name__)

# Refresh this long before the stored expiry, so a call never leaves with a dying token.
EXPIRY_MARGIN = 60.0
LEASE_SECONDS = 30.0
_process_locks: dict[tuple[int, int], threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(key: tuple[int, int]) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


class UserTokens:
    """The token source of one Bitrix24 user on one portal (implements ``TokenSource``)."""

    def __init__(
        self,
        db: Database,
        oauth: OAuthServer,
        portal: Portal,
        user_id: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.oauth = oauth
        self.portal = portal
        self.user_id = user_id
        self.clock = clock
        self.sleep = sleep
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"

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

    def refresh(self, stale_token: str) -> str:
        """Refresh once: one caller holds the lease, the others use what it stored."""
        with _process_lock((self.portal.id, self.user_id)):
            deadline = self.clock() + LEASE_SECONDS + 5
            while True:
                pair = self._stored()
                if (
                    pair.access_token != stale_token
                    and pair.expires_at - EXPIRY_MARGIN > self.clock()
                ):
                    return pair.access_token
                if self.db.take_refresh_lease(
                    self.portal.id,
                    self.user_id,
                    version=pair.version,
                    owner=self.owner,
                    seconds=LEASE_SECONDS,
                ):
                    return self._refresh_holding_lease(pair)
                if self.clock() > deadline:
                    raise TransientError("REFRESH_BUSY", "another process is refreshing this token")
                self.sleep(0.2)

    def _refresh_holding_lease(self, pair: TokenPair) -> str:
        try:
            grant = self.oauth.refresh(pair.refresh_token)
        except InvalidGrant as exc:
            self.db.release_refresh_lease(self.portal.id, self.user_id, self.owner)
            self.db.set_token_status(self.portal.id, self.user_id, "reauth_required")
            log.warning(
                "refresh refused (invalid_grant) portal=%s user=%s: re-authorisation needed",
                self.portal.member_id,
                self.user_id,
            )
            raise AuthFailed("reauth_required", "the user must open the app again") from exc
        except InvalidClient as exc:
            self.db.release_refresh_lease(self.portal.id, self.user_id, self.owner)
            log.error("refresh refused (invalid_client) portal=%s", self.portal.member_id)
            raise AuthFailed("app_not_installed", "the portal no longer accepts this app") from exc
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
