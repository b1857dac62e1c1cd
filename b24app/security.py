"""Session tokens for the UI, and the security headers of every response."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


@dataclass(frozen=True)
class Session:
    """Who is calling the API: one Bitrix24 user of one portal."""

    portal_id: int
    member_id: str
    user_id: int
    lang: str


class SessionSigner:
    """Issues and checks the signed, expiring ``b24app-session`` tokens."""

    def __init__(self, secret_key: str, ttl_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="b24app-session-v1")
        self.ttl = ttl_seconds

    def issue(self, session: Session) -> str:
        """A fresh token for this portal and user."""
        return self._serializer.dumps(
            {
                "p": session.portal_id,
                "m": session.member_id,
                "u": session.user_id,
                "l": session.lang,
            }
        )

    def check(self, token: str) -> Session | None:
        """The session a token stands for, or None when forged, expired or malformed."""
        try:
            data = self._serializer.loads(token, max_age=self.ttl)
        except (BadSignature, SignatureExpired):
            return None
        try:
            return Session(
                portal_id=int(data["p"]),
                member_id=str(data["m"]),
                user_id=int(data["u"]),
                lang=str(data.get("l") or "en"),
            )
        except (KeyError, TypeError, ValueError):
            return None


class UnreadableSecret(Exception):
    """A stored secret could not be decrypted with any configured key."""


def derive_fernet_key(material: str) -> bytes:
    """A Fernet key derived from any secret string with HKDF-SHA256."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"b24app-token-encryption",
        info=b"b24app stored OAuth tokens v1",
    )
    return base64.urlsafe_b64encode(hkdf.derive(material.encode("utf-8")))


class TokenCipher:
    """Encrypts stored tokens (Fernet); old keys still decrypt, the first key encrypts."""

    def __init__(self, current: str, old: Iterable[str] = ()) -> None:
        keys = [current, *(key for key in old if key and key != current)]
        self._fernet = MultiFernet([Fernet(derive_fernet_key(key)) for key in keys])

    def encrypt(self, plain: str) -> str:
        """Ciphertext of a secret, as text."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> str:
        """The secret back; raises UnreadableSecret when no key fits."""
        try:
            return self._fernet.decrypt(stored.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise UnreadableSecret("no configured key decrypts this value") from None

    def rotate(self, stored: str) -> str:
        """Re-encrypt a value under the current key (raises UnreadableSecret if unreadable)."""
        try:
            return self._fernet.rotate(stored.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError):
            raise UnreadableSecret("no configured key decrypts this value") from None


def apply_headers(
    response: Response, *, frame_origin: str | None, script_origins: tuple[str, ...] = ()
) -> Response:
    """Security headers; pages the portal frames admit that portal's origin and no other."""
    scripts = " ".join(("'self'", *script_origins))
    connect = "'self'" + (f" {frame_origin}" if frame_origin else "")
    ancestors = frame_origin if frame_origin else "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; frame-ancestors {ancestors}; base-uri 'none'; "
        "form-action 'self'; object-src 'none'"
    )
    if frame_origin:
        response.headers.pop("X-Frame-Options", None)
    else:
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def script_origin(url: str) -> str:
    """The origin a script URL loads from, or '' for a same-origin path."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""
