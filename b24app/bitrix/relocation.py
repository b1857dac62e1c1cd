"""A renamed portal: its new address is confirmed with the trusted OAuth server, then stored."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from b24app.bitrix.errors import (
    OAuthError,
    OAuthTransient,
    PortalMoved,
    TokenExpired,
    TransientError,
    VerificationError,
)
from b24app.bitrix.oauth import OAuthServer, bare_domain
from b24app.bitrix.payloads import portal_address
from b24app.storage.db import Database, Portal

log = logging.getLogger(__name__)


class PortalRelocation:
    """Confirms a redirect's target is the same portal (implements ``Relocator``).

    Bitrix24 answers 302 from a portal's old address after its domain changed. The user's
    access token goes only to the trusted OAuth server's ``app.info``: its ``install.domain``
    must name the new host and ``install.member_id`` the stored portal. Then the portal's
    domain, scheme and REST base are stored once, for every user and job.
    """

    def __init__(
        self, db: Database, oauth: OAuthServer, portal: Portal, *, allow_insecure: bool
    ) -> None:
        self.db = db
        self.oauth = oauth
        self.portal = portal
        self.allow_insecure = allow_insecure

    def _unverified(self, location: str, why: str) -> PortalMoved:
        log.warning(
            "security: portal %s redirected REST calls to %s; not followed (%s)",
            self.portal.member_id,
            urlsplit(location).netloc or "?",
            why,
        )
        return PortalMoved(
            "PORTAL_MOVED_UNVERIFIED",
            f"the portal redirected to an address the OAuth server does not confirm ({why})",
        )

    def confirm(self, location: str, token: str) -> str:
        """The REST base of this portal at ``location``, once app.info confirms it."""
        parts = urlsplit(location)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self._unverified(location, "no usable address")
        try:
            address = portal_address(
                parts.netloc,
                "1" if parts.scheme == "https" else "0",
                allow_insecure=self.allow_insecure,
            )
        except VerificationError as exc:
            raise self._unverified(location, exc.reason) from None
        try:
            info = self.oauth.app_info(token)
        except OAuthTransient as exc:
            raise TransientError("OAUTH_UNAVAILABLE", exc.code) from None
        except OAuthError as exc:
            if exc.code in ("expired_token", "invalid_token"):
                raise TokenExpired(exc.code, "confirming the portal's new address") from None
            raise self._unverified(location, f"app.info refused the token: {exc.code}") from None
        install = info.get("install")
        install = install if isinstance(install, dict) else {}
        if str(info.get("client_id") or "") != self.oauth.client_id:
            raise self._unverified(location, "token of another app")
        if str(install.get("member_id") or "") != self.portal.member_id:
            raise self._unverified(location, "another member_id")
        if bare_domain(str(install.get("domain") or "")) != address.domain:
            raise self._unverified(location, "app.info names another domain")
        # The scheme the portal itself reports wins over the one in the Location header.
        reported = urlsplit(str(install.get("client_endpoint") or ""))
        scheme = address.scheme
        if reported.scheme in ("http", "https") and bare_domain(reported.netloc) == address.domain:
            scheme = reported.scheme
        if scheme != "https" and not self.allow_insecure:
            raise self._unverified(location, "insecure_portal")
        client_endpoint = f"{scheme}://{address.domain}/rest/"
        self._store(address.domain, scheme, client_endpoint)
        return client_endpoint

    def _store(self, domain: str, scheme: str, client_endpoint: str) -> None:
        current = self.db.get_portal(portal_id=self.portal.id)
        if current is None or (current.domain, current.scheme) == (domain, scheme):
            return  # another call stored it already
        self.db.update_portal(
            self.portal.id, domain=domain, scheme=scheme, client_endpoint=client_endpoint
        )
        log.warning(
            "portal %s moved from %s to %s (confirmed by the OAuth server); stored",
            self.portal.member_id,
            current.domain,
            domain,
        )


def adopt_reported_endpoint(
    db: Database, portal: Portal, client_endpoint: str, *, allow_insecure: bool
) -> bool:
    """Store the REST base a trusted OAuth server's token answer names for this portal.

    The caller has checked the answer is for this portal's member_id. A value that is not a
    portal REST base (``scheme://host[:port]/rest/``) is ignored. True when it was stored.
    """
    parts = urlsplit(client_endpoint.strip())
    if parts.scheme not in ("http", "https") or parts.path.rstrip("/") != "/rest":
        return False
    if parts.query or parts.fragment or parts.username or parts.password:
        return False
    try:
        address = portal_address(
            parts.netloc, "1" if parts.scheme == "https" else "0", allow_insecure=allow_insecure
        )
    except VerificationError:
        log.warning("security: a token answer names an unusable REST base; ignored")
        return False
    current = db.get_portal(portal_id=portal.id)
    if current is None or current.client_endpoint == address.client_endpoint:
        return False
    db.update_portal(
        portal.id,
        domain=address.domain,
        scheme=address.scheme,
        client_endpoint=address.client_endpoint,
    )
    log.warning(
        "portal %s: the OAuth server names its REST base at %s (was %s); stored",
        portal.member_id,
        address.domain,
        current.domain,
    )
    return True
