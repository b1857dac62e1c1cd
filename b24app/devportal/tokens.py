"""Access tokens, refresh tokens and authorization codes issued by the emulated OAuth server."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass


@dataclass
class AccessToken:
    """An access token of one user of one portal for one app."""

    token: str
    member_id: str
    user_id: int
    client_id: str
    scope: str
    expires_at: float
    revoked: bool = False

    @property
    def expired(self) -> bool:
        """Return whether the token's lifetime is over."""
        return time.time() >= self.expires_at


@dataclass
class RefreshGrant:
    """A single-use refresh token."""

    token: str
    member_id: str
    user_id: int
    client_id: str
    scope: str
    used: bool = False
    revoked: bool = False


@dataclass
class AuthCode:
    """An authorization code: lives 30 seconds, single use."""

    code: str
    member_id: str
    user_id: int
    client_id: str
    scope: str
    expires_at: float
    used: bool = False


class TokenStore:
    """Every token the OAuth server has issued (the emulator's lock guards it)."""

    def __init__(self) -> None:
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshGrant] = {}
        self.codes: dict[str, AuthCode] = {}

    def issue(
        self, member_id: str, user_id: int, client_id: str, scope: str, ttl: float
    ) -> tuple[AccessToken, RefreshGrant]:
        """Issue a fresh token pair."""
        access = AccessToken(
            token=secrets.token_hex(20),
            member_id=member_id,
            user_id=user_id,
            client_id=client_id,
            scope=scope,
            expires_at=time.time() + ttl,
        )
        refresh = RefreshGrant(
            token=secrets.token_hex(20),
            member_id=member_id,
            user_id=user_id,
            client_id=client_id,
            scope=scope,
        )
        self.access[access.token] = access
        self.refresh[refresh.token] = refresh
        return access, refresh

    def issue_code(self, member_id: str, user_id: int, client_id: str, scope: str) -> AuthCode:
        """Issue an authorization code."""
        code = AuthCode(
            code=secrets.token_hex(16),
            member_id=member_id,
            user_id=user_id,
            client_id=client_id,
            scope=scope,
            expires_at=time.time() + 30,
        )
        self.codes[code.code] = code
        return code

    def revoke_portal(self, member_id: str) -> None:
        """Revoke every token and code of one portal."""
        for access in self.access.values():
            if access.member_id == member_id:
                access.revoked = True
        for refresh in self.refresh.values():
            if refresh.member_id == member_id:
                refresh.revoked = True
        for code in self.codes.values():
            if code.member_id == member_id:
                code.used = True

    def expire(self, member_id: str | None, user_id: int | None) -> int:
        """Expire matching live access tokens now; return how many."""
        count = 0
        now = time.time()
        for access in self.access.values():
            if member_id is not None and access.member_id != member_id:
                continue
            if user_id is not None and access.user_id != user_id:
                continue
            if not access.revoked and access.expires_at > now:
                access.expires_at = now - 1
                count += 1
        return count
