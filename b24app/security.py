"""Session tokens for the UI, and the security headers of every response."""

from __future__ import annotations

import base64
import hashlib
import hmac
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


DIGEST_PREFIX = "hmac-sha256"


def derive_digest_key(material: str) -> bytes:
    """An HMAC key for stored application_tokens, derived apart from the encryption key."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"b24app-application-token",
        info=b"b24app stored application_token digests v1",
    )
    return hkdf.derive(material.encode("utf-8"))


def _key_id(key: bytes) -> str:
    """A short public name of a digest key (a hash of it), stored beside each digest."""
    return hashlib.sha256(b"b24app-key-id\0" + key).hexdigest()[:8]


class TokenCipher:
    """Encrypts stored tokens (Fernet); old keys still decrypt, the first key encrypts.

    application_tokens are only ever compared, so they are kept as keyed hashes instead:
    ``hmac-sha256:<key id>:<hex>``, under a key derived from the same secret.
    """

    def __init__(self, current: str, old: Iterable[str] = ()) -> None:
        keys = [current, *(key for key in old if key and key != current)]
        self._fernet = MultiFernet([Fernet(derive_fernet_key(key)) for key in keys])
        digest_keys = [derive_digest_key(key) for key in keys]
        self._digest_keys = {_key_id(key): key for key in reversed(digest_keys)}
        self._current_id = _key_id(digest_keys[0])

    def digest(self, plain: str) -> str:
        """The keyed hash of a secret that is only compared (never read back)."""
        key = self._digest_keys[self._current_id]
        mac = hmac.new(key, plain.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{DIGEST_PREFIX}:{self._current_id}:{mac}"

    def digest_matches(self, plain: str, stored: str) -> bool | None:
        """Constant-time check of a secret against its stored hash; None when no key reads it.

        A value stored before hashing (no prefix) is compared as it is.
        """
        if not plain or not stored:
            return False
        scheme, _, rest = stored.partition(":")
        if scheme != DIGEST_PREFIX:
            return hmac.compare_digest(plain.encode("utf-8"), stored.encode("utf-8"))
        key_id, _, mac = rest.partition(":")
        key = self._digest_keys.get(key_id)
        if key is None:
            return None
        expected = hmac.new(key, plain.encode("utf-8"), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii", "replace"))

    def digest_is_current(self, stored: str) -> bool:
        """Whether a stored hash is under the current key (else re-hash it when next seen)."""
        return stored.startswith(f"{DIGEST_PREFIX}:{self._current_id}:")

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


# A year; browsers take it only over HTTPS. Subdomains are the operator's to decide.
HSTS = "max-age=31536000"


def apply_headers(
    response: Response,
    *,
    frame_origin: str | None,
    script_origins: tuple[str, ...] = (),
    hsts: bool = False,
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
    if hsts:
        response.headers["Strict-Transport-Security"] = HSTS
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def script_origin(url: str) -> str:
    """The origin a script URL loads from, or '' for a same-origin path."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""
