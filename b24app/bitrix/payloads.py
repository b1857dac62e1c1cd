"""Parsing of what the portal POSTs to the app: frame opens, install callbacks, events."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from b24app.bitrix.errors import VerificationError

_HOST = re.compile(
    r"^(?=.{1,253}(:|$))([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(:(\d{1,5}))?$"
)
_MEMBER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.~+/=-]{1,512}$")
_PLACEMENT = re.compile(r"^[A-Z0-9_]{1,64}$")
# Real placement options are a few short keys; anything longer is not worth parsing.
MAX_PLACEMENT_OPTIONS = 8192


@dataclass(frozen=True)
class PortalAddress:
    """Where a portal lives: a validated host[:port] and its scheme."""

    domain: str
    scheme: str

    @property
    def base_url(self) -> str:
        """The portal's origin."""
        return f"{self.scheme}://{self.domain}"

    @property
    def client_endpoint(self) -> str:
        """The REST base URL."""
        return f"{self.base_url}/rest/"


@dataclass(frozen=True)
class FramePost:
    """A user opening the app (or its installer) in the portal's frame."""

    address: PortalAddress
    lang: str
    app_sid: str
    auth_id: str
    refresh_id: str
    auth_expires: int
    server_endpoint: str
    application_token: str
    member_id: str
    placement: str
    placement_options: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True)
class EventPost:
    """An event delivery (ONAPPINSTALL, ONAPPUPDATE, ONAPPUNINSTALL, ...)."""

    event: str
    member_id: str
    domain: str
    application_token: str
    access_token: str
    refresh_token: str
    expires_in: int
    server_endpoint: str
    client_endpoint: str
    data: dict[str, Any]
    ts: str = ""

    @property
    def entity_id(self) -> str:
        """``data[FIELDS][ID]``, the record a CRM event is about ("" when none)."""
        fields = self.data.get("FIELDS")
        return str(fields.get("ID") or "").strip()[:64] if isinstance(fields, dict) else ""


def portal_address(domain: str, protocol: str | None, *, allow_insecure: bool) -> PortalAddress:
    """Validate DOMAIN (host with an optional port) and PROTOCOL (1 https, 0 http)."""
    host = (domain or "").strip().lower()
    for default_port in (":443", ":80"):
        if host.endswith(default_port):
            host = host[: -len(default_port)]
    if not _HOST.match(host):
        raise VerificationError("malformed_domain", 400)
    scheme = "http" if str(protocol).strip() == "0" else "https"
    bare = host.rsplit(":", 1)[0] if ":" in host else host
    port = host.rsplit(":", 1)[1] if ":" in host else None
    if port is not None and not 0 < int(port) < 65536:
        raise VerificationError("malformed_domain", 400)
    if not allow_insecure:
        if scheme != "https":
            raise VerificationError("insecure_portal", 400)
        if bare == "localhost" or bare.endswith(".localhost") or _is_ip(bare) or "." not in bare:
            raise VerificationError("portal_host_not_allowed", 400)
    return PortalAddress(domain=host, scheme=scheme)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_placement_options(raw: str | None) -> dict[str, Any] | None:
    """PLACEMENT_OPTIONS is a JSON string; empty, invalid or non-object means no context."""
    if not raw or len(raw) > MAX_PLACEMENT_OPTIONS:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _field(source: Mapping[str, str], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = (source.get(name) or "").strip()
    if not value:
        raise VerificationError(f"missing_{name.lower()}", 400)
    if pattern is not None and not pattern.match(value):
        raise VerificationError(f"malformed_{name.lower()}", 400)
    return value


def _int(value: Any, default: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def parse_frame_post(
    query: Mapping[str, str], form: Mapping[str, str], *, allow_insecure: bool
) -> FramePost:
    """Read a frame POST: DOMAIN/PROTOCOL/LANG/APP_SID in the query, the rest in the body."""
    merged = {**query, **form}
    address = portal_address(
        _field(merged, "DOMAIN"), merged.get("PROTOCOL"), allow_insecure=allow_insecure
    )
    placement = (merged.get("PLACEMENT") or "DEFAULT").strip().upper()
    if not _PLACEMENT.match(placement):
        placement = "UNKNOWN"
    application_token = (merged.get("APPLICATION_TOKEN") or "").strip()
    if application_token and not _TOKEN.match(application_token):
        raise VerificationError("malformed_application_token", 400)
    return FramePost(
        address=address,
        lang=(merged.get("LANG") or "en").strip().lower()[:8] or "en",
        app_sid=(merged.get("APP_SID") or "").strip()[:128],
        auth_id=_field(merged, "AUTH_ID", _TOKEN),
        refresh_id=_field(merged, "REFRESH_ID", _TOKEN),
        auth_expires=_int(merged.get("AUTH_EXPIRES"), 3600),
        server_endpoint=(merged.get("SERVER_ENDPOINT") or "").strip(),
        application_token=application_token,
        member_id=_field(merged, "member_id", _MEMBER_ID),
        placement=placement,
        placement_options=parse_placement_options(merged.get("PLACEMENT_OPTIONS")),
    )


def unflatten_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``auth[member_id]=x&data[FIELDS][ID]=7`` into nested dicts (lists stay dicts)."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        if not parts or len(parts) > 6:
            continue
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def parse_event(form: Mapping[str, str]) -> EventPost:
    """Read an event delivery (form-encoded, bracketed keys)."""
    nested = unflatten_form(form)
    auth = nested.get("auth") if isinstance(nested.get("auth"), dict) else {}
    data = nested.get("data") if isinstance(nested.get("data"), dict) else {}
    assert isinstance(auth, dict) and isinstance(data, dict)
    event = str(nested.get("event") or "").strip().upper()
    if not event or not _PLACEMENT.match(event):
        raise VerificationError("missing_event", 400)
    member_id = str(auth.get("member_id") or "").strip()
    if not _MEMBER_ID.match(member_id):
        raise VerificationError("missing_member_id", 400)
    application_token = str(auth.get("application_token") or "").strip()
    if not application_token or not _TOKEN.match(application_token):
        raise VerificationError("missing_application_token", 400)
    access_token = str(auth.get("access_token") or "").strip()
    refresh_token = str(auth.get("refresh_token") or "").strip()
    for token in (access_token, refresh_token):
        if token and not _TOKEN.match(token):
            raise VerificationError("malformed_token", 400)
    return EventPost(
        event=event,
        member_id=member_id,
        domain=str(auth.get("domain") or "").strip(),
        application_token=application_token,
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=_int(auth.get("expires_in"), 3600),
        server_endpoint=str(auth.get("server_endpoint") or "").strip(),
        client_endpoint=str(auth.get("client_endpoint") or "").strip(),
        data=data,
        ts=str(nested.get("ts") or "").strip()[:32],
    )
