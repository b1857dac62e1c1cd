"""The OAuth server side: token grants and token verification through ``app.info``."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError
from authlib.integrations.requests_client import OAuth2Session

from b24app.bitrix.errors import (
    InvalidClient,
    InvalidGrant,
    OAuthError,
    OAuthTransient,
    VerificationError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenGrant:
    """A token answer from the OAuth server, parsed tolerantly."""

    access_token: str
    refresh_token: str
    expires_at: float
    member_id: str
    user_id: int | None
    client_endpoint: str
    server_endpoint: str
    scope: str


@dataclass(frozen=True)
class VerifiedToken:
    """What the OAuth server's ``app.info`` confirmed about an access token."""

    user_id: int
    member_id: str
    domain: str
    client_endpoint: str
    installed: bool
    expires_at: float
    # the installed app version app.info reports (None when it names none, or when recalled
    # from the database's verification cache, which does not keep it)
    version: str | None = None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased; empty when it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def pick_oauth_server(named: str | None, trusted: tuple[str, ...]) -> str:
    """The trusted OAuth server a payload names, else our default (the first trusted one)."""
    origin = origin_of(named or "")
    return origin if origin in trusted else trusted[0]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_grant(payload: dict[str, Any], *, now: float | None = None) -> TokenGrant:
    """Read a token answer: ``expires`` absolute or missing, numbers possibly strings."""
    now = time.time() if now is None else now
    access = payload.get("access_token")
    refresh = payload.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
        raise OAuthTransient("bad_token_response", "the token answer lacks a token")
    expires = _number(payload.get("expires"))
    if expires is None:
        expires_in = _number(payload.get("expires_in"))
        expires = now + (expires_in if expires_in is not None else 3600)
    user_id = _number(payload.get("user_id"))
    return TokenGrant(
        access_token=access,
        refresh_token=refresh,
        expires_at=expires,
        member_id=str(payload.get("member_id") or ""),
        user_id=int(user_id) if user_id is not None else None,
        client_endpoint=str(payload.get("client_endpoint") or ""),
        server_endpoint=str(payload.get("server_endpoint") or ""),
        scope=str(payload.get("scope") or ""),
    )


class OAuthServer:
    """Talks to one trusted Bitrix24 OAuth server; ``client_secret`` goes nowhere else."""

    def __init__(
        self,
        origin: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 15.0,
        session: requests.Session | None = None,
    ) -> None:
        self.origin = origin.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.timeout = timeout
        self.session = session or requests.Session()

    def _grant(self, **params: str) -> TokenGrant:
        oauth = OAuth2Session(
            self.client_id,
            self._client_secret,
            token_endpoint_auth_method="client_secret_post",
        )
        url = f"{self.origin}/oauth/token/"
        try:
            if params.get("grant_type") == "refresh_token":
                token = oauth.refresh_token(
                    url, refresh_token=params["refresh_token"], timeout=self.timeout
                )
            else:
                token = oauth.fetch_token(
                    url,
                    grant_type="authorization_code",
                    code=params["code"],
                    timeout=self.timeout,
                )
        except AuthlibOAuthError as exc:
            raise _oauth_error(str(exc.error or ""), str(exc.description or "")) from None
        except requests.RequestException as exc:
            raise OAuthTransient("unreachable", type(exc).__name__) from None
        except ValueError:
            raise OAuthTransient("bad_response", "the OAuth server answered no JSON") from None
        finally:
            oauth.close()
        return parse_grant(dict(token))

    def refresh(self, refresh_token: str) -> TokenGrant:
        """Exchange a refresh token for a new pair (the old one is then dead)."""
        return self._grant(grant_type="refresh_token", refresh_token=refresh_token)

    def exchange_code(self, code: str) -> TokenGrant:
        """Exchange an authorization code (lives 30 s, single use)."""
        return self._grant(grant_type="authorization_code", code=code)

    def app_info(self, access_token: str) -> dict[str, Any]:
        """The OAuth server's ``app.info`` for an access token (the trusted answer)."""
        try:
            response = self.session.post(
                f"{self.origin}/rest/app.info",
                data={"auth": access_token},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise OAuthTransient("unreachable", type(exc).__name__) from None
        try:
            payload = json.loads(response.content.decode("utf-8", errors="replace"))
        except ValueError:
            raise OAuthTransient("bad_response", f"HTTP {response.status_code}") from None
        if not isinstance(payload, dict):
            raise OAuthTransient("bad_response", f"HTTP {response.status_code}")
        if "error" in payload or response.status_code >= 400:
            code = str(payload.get("error") or f"HTTP_{response.status_code}")
            if response.status_code >= 500:
                raise OAuthTransient(code, str(payload.get("error_description") or ""))
            raise OAuthError(code, str(payload.get("error_description") or ""))
        result = payload.get("result")
        if not isinstance(result, dict):
            raise OAuthTransient("bad_response", "app.info without a result")
        return result

    def verify(self, access_token: str, *, member_id: str, domain: str) -> VerifiedToken:
        """Confirm a token was issued to our app, for that portal and domain."""
        try:
            info = self.app_info(access_token)
        except OAuthTransient as exc:
            raise VerificationError(f"oauth_server_unavailable ({exc.code})", 503) from None
        except OAuthError as exc:
            raise VerificationError(f"token_rejected ({exc.code})", 401) from None
        install = info.get("install") if isinstance(info.get("install"), dict) else {}
        assert isinstance(install, dict)
        if str(info.get("client_id") or "") != self.client_id:
            raise VerificationError("token_of_another_app", 403)
        if str(install.get("member_id") or "") != member_id:
            raise VerificationError("member_id_mismatch", 403)
        if bare_domain(str(install.get("domain") or "")) != bare_domain(domain):
            raise VerificationError("domain_mismatch", 403)
        user_id = _number(info.get("user_id"))
        if user_id is None or user_id <= 0:
            raise VerificationError("token_without_user", 403)
        expires = _parse_expiry(info.get("expires"))
        version = str(install.get("version") or "").strip()[:32] or None
        return VerifiedToken(
            user_id=int(user_id),
            member_id=member_id,
            domain=domain,
            client_endpoint=str(install.get("client_endpoint") or ""),
            installed=bool(install.get("installed")),
            expires_at=expires,
            version=version,
        )


def bare_domain(domain: str) -> str:
    """A host[:port] as Bitrix24 names it: lower-cased, no scheme, path or default port."""
    value = domain.strip().lower()
    for scheme in ("https://", "http://"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
    value = value.split("/", 1)[0]
    for default_port in (":443", ":80"):
        if value.endswith(default_port):
            value = value[: -len(default_port)]
    return value


def _parse_expiry(value: Any) -> float:
    from datetime import datetime

    number = _number(value)
    if number is not None:
        return number
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    return time.time() + 600


def _oauth_error(code: str, description: str) -> OAuthError:
    lowered = code.lower()
    if lowered in ("invalid_grant", "bad_verification_code", "expired_token"):
        return InvalidGrant(code, description)
    if lowered in ("invalid_client", "wrong_client", "not_installed"):
        return InvalidClient(code, description)
    if not code:
        return OAuthTransient("bad_response", description)
    return OAuthError(code, description)
