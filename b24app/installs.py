"""Installing, opening and uninstalling the app on a portal. No Flask here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from b24app.bitrix.auth import StaticToken
from b24app.bitrix.client import RestClient
from b24app.bitrix.errors import AuthFailed, BitrixError, VerificationError
from b24app.bitrix.oauth import VerifiedToken, origin_of
from b24app.bitrix.payloads import EventPost, FramePost, PortalAddress, portal_address
from b24app.context import AppContext
from b24app.dedupe import region_for_language
from b24app.storage.db import Portal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Binding:
    """A placement the app registers, with its titles."""

    placement: str
    titles: dict[str, str]


# Toolbar titles name the list they sit above; a row menu item acts on its record.
_TOOLBAR_TITLES = {
    "LEAD": {
        "en": "Find duplicate leads",
        "ru": "Найти дубликаты лидов",
        "de": "Lead-Dubletten suchen",
    },
    "DEAL": {
        "en": "Find duplicate deals",
        "ru": "Найти дубликаты сделок",
        "de": "Auftragsdubletten suchen",
    },
    "CONTACT": {"en": "Find duplicates", "ru": "Найти дубликаты", "de": "Dubletten suchen"},
    "COMPANY": {
        "en": "Find duplicate companies",
        "ru": "Найти дубликаты компаний",
        "de": "Unternehmensdubletten suchen",
    },
}
_MENU_TITLES = {
    "en": "Find duplicates of this record",
    "ru": "Найти дубликаты этой записи",
    "de": "Dubletten dieses Datensatzes suchen",
}
# Every CRM list the app serves: the toolbar scans the type, the row menu one record.
PLACEMENTS = tuple(
    binding
    for entity in ("CONTACT", "COMPANY", "LEAD", "DEAL")
    for binding in (
        Binding(f"CRM_{entity}_LIST_TOOLBAR", _TOOLBAR_TITLES[entity]),
        Binding(f"CRM_{entity}_LIST_MENU", _MENU_TITLES),
    )
)
EVENTS = ("ONAPPUNINSTALL", "ONAPPUPDATE")
REPEATED = "ignored: repeated delivery"
# Claims an event's one turn to be acted on: False when it repeats one already acted on.
FirstDelivery = Callable[[], bool]


def verify_frame(ctx: AppContext, post: FramePost) -> VerifiedToken:
    """Confirm a frame POST through the trusted OAuth server's ``app.info`` (cached per token)."""
    cached = ctx.verifications.get(post.auth_id, post.member_id, post.address.domain)
    if cached is None:
        server = ctx.oauth_server(post.server_endpoint)
        cached = server.verify(post.auth_id, member_id=post.member_id, domain=post.address.domain)
        ctx.verifications.put(post.auth_id, cached)
    portal = ctx.db.get_portal(member_id=post.member_id)
    if (
        portal is not None
        and post.application_token
        and ctx.db.application_token_matches(portal, post.application_token) is False
    ):
        raise VerificationError("application_token_mismatch", 403)
    return cached


def frame_application_token(ctx: AppContext, post: FramePost, *, admin: bool | None) -> str | None:
    """The posted APPLICATION_TOKEN when it may be stored, else None.

    Every user's browser posts one, so while none is stored only a portal admin's is taken:
    a user can't plant a token of their own and lock the portal's events out. (A different
    one than stored never gets here: verify_frame refuses it.) ``admin``: when already known.
    """
    if not post.application_token:
        return None
    portal = ctx.db.get_portal(member_id=post.member_id)
    if portal is not None and ctx.db.application_token_matches(portal, post.application_token):
        return post.application_token
    if admin is None:
        admin = is_portal_admin(ctx, post)
    if not admin:
        log.info("an application_token posted by a non-admin is not stored")
        return None
    return post.application_token


def confirmed_address(posted: PortalAddress, verified: VerifiedToken) -> PortalAddress:
    """The portal's address with the scheme the OAuth server reports, when it reports one.

    PROTOCOL is whatever the browser posted; app.info's client_endpoint is the portal's own.
    """
    reported = urlsplit(verified.client_endpoint)
    if reported.scheme in ("http", "https") and reported.netloc.lower() == posted.domain:
        return PortalAddress(domain=posted.domain, scheme=reported.scheme)
    return posted


def server_endpoint_to_store(ctx: AppContext, named: str | None, member_id: str) -> str:
    """The OAuth server to record for a portal: the one a payload names only when trusted.

    An untrusted name never overwrites what is stored (nor puts the default in its place).
    """
    origin = origin_of(named or "")
    if origin and origin in ctx.settings.oauth_servers:
        return f"{origin}/rest/"
    if origin:
        log.warning("security: payload names an untrusted OAuth server; the stored one is kept")
    existing = ctx.db.get_portal(member_id=member_id)
    if existing is not None and existing.server_endpoint:
        return existing.server_endpoint
    return f"{ctx.settings.default_oauth_server}/rest/"


def is_portal_admin(ctx: AppContext, post: FramePost) -> bool:
    """Ask the portal, with the poster's own token, whether they administer it."""
    return is_admin_token(ctx, post.address.client_endpoint, post.auth_id)


def is_admin_token(ctx: AppContext, client_endpoint: str, access_token: str) -> bool:
    """Ask the portal (at a verified address), with that token, whether its user is an admin."""
    client = RestClient(
        ctx.http,
        client_endpoint,
        StaticToken(access_token),
        timeout=ctx.settings.http_timeout,
    )
    try:
        return client.call("user.admin") is True
    except BitrixError:
        return False


def store_frame_user(
    ctx: AppContext,
    post: FramePost,
    verified: VerifiedToken,
    *,
    installer: bool,
    admin: bool | None = None,
) -> Portal:
    """Save (or refresh) the portal record and the opening user's tokens."""
    address = confirmed_address(post.address, verified)
    application_token = frame_application_token(ctx, post, admin=admin)
    portal = ctx.db.upsert_portal(
        member_id=post.member_id,
        domain=address.domain,
        scheme=address.scheme,
        client_endpoint=address.client_endpoint,
        server_endpoint=server_endpoint_to_store(ctx, post.server_endpoint, post.member_id),
        language=post.lang if installer else None,
        phone_region=region_for_language(post.lang) if installer else None,
        application_token=application_token,
    )
    if installer and verified.version:
        # CASE-08: an update reopens the wizard and may send no event; app.info names it
        ctx.db.update_portal(portal.id, app_version=verified.version)
    ctx.db.store_token(
        portal_id=portal.id,
        user_id=verified.user_id,
        access_token=post.auth_id,
        refresh_token=post.refresh_id,
        expires_at=time.time() + post.auth_expires,
        is_installer=installer,
    )
    return portal


def set_up_portal(ctx: AppContext, portal: Portal, admin_user_id: int) -> list[str]:
    """Bind the placements and event handlers that are missing; returns what failed.

    Three requests when the portal refuses nothing, however much is missing: ``user.admin``
    (asked before), one ``batch`` listing what is bound, one ``batch`` binding the rest and
    unbinding this app's handlers at an address it no longer has (each command still counts
    against its own method's limit). A bind the portal refuses is believed bound only when its
    error says so or a second listing shows it.
    """
    client = ctx.rest(portal, admin_user_id)
    app_url = ctx.settings.app_url
    steps = (
        _Step("placement", f"{app_url}/app", [p.placement for p in PLACEMENTS]),
        _Step("event", f"{app_url}/events", list(EVENTS)),
    )
    stage = "get"
    try:
        _list_bound(client, steps)
        stage = "bind"
        _bind_missing(client, steps)
        unconfirmed = [step for step in steps if step.refused and not step.failure]
        if unconfirmed:
            _list_bound(client, unconfirmed)
    except BitrixError as exc:
        # The whole batch went unanswered or was refused: each step not yet done failed so.
        said = _error_line(exc.code, exc.description)
        for step in steps:
            if not step.failure and not step.refused and step.missing():
                step.failure = f"{step.kind}.{stage}: {said}"
    failures = [line for step in steps if (line := step.outcome())]
    if failures:
        ctx.db.update_portal(portal.id, setup_error="; ".join(failures)[:2000])
    else:
        ctx.db.mark_installed(portal.id)
    return failures


def _already_bound(code: str, description: str) -> bool:
    """An error that names itself "already bound" (the portal holds that binding)."""
    code = code.upper()
    said = description.lower()
    return (
        "ALREADY_BOUND" in code
        or "ALREADY_BINDED" in code
        or "already bound" in said
        or "already binded" in said
    )


def _error_line(code: str | None, description: str | None) -> str:
    """An error as the admin reads it: the code and what the portal said, on one line."""
    return f"{code or ''} {' '.join((description or '').split())}".strip()


@dataclass
class _Step:
    """One kind of binding (placements or events): what must be bound, and what is."""

    kind: str
    handler: str
    wanted: list[str]
    bound: set[str] = field(default_factory=set)
    # This app's bindings of a wanted name at another address (an earlier APP_URL).
    stale: list[tuple[str, str]] = field(default_factory=list)
    # Binds refused with an error that does not say "already bound": name -> what was said.
    refused: dict[str, str] = field(default_factory=dict)
    # The listing itself failed: which method, and what was said.
    failure: str | None = None

    def missing(self) -> list[str]:
        return [name for name in self.wanted if name not in self.bound]

    def bind_key(self, name: str) -> str:
        """The batch key of the bind of ``name``."""
        return f"{self.kind}_{name}"

    def unbind_key(self, index: int) -> str:
        """The batch key of the unbind of ``stale[index]``."""
        return f"un{self.kind}_{index}"

    def outcome(self) -> str | None:
        """One line saying what failed, or None when everything wanted is bound."""
        if self.failure:
            return self.failure
        missing = self.missing()
        if not missing:
            return None
        said = next((self.refused[n] for n in missing if n in self.refused), "not bound")
        return f"{self.kind}.bind: {said} ({', '.join(missing)})"


def _list_bound(client: RestClient, steps: Sequence[_Step]) -> None:
    """Read what the portal has bound for this app (``placement.get``, ``event.get``)."""
    listed = client.batch({step.kind: (f"{step.kind}.get", {}) for step in steps})
    for step in steps:
        method = f"{step.kind}.get"
        if step.kind in listed.errors:
            error = listed.errors[step.kind]
            said = _error_line(error.get("error"), error.get("error_description"))
            step.failure = f"{method}: {said}"
            continue
        if step.kind not in listed.results:
            step.failure = f"{method}: not answered"
            continue
        items = listed.results[step.kind]
        step.stale = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            name = str(item.get(step.kind) or "").upper()
            handler = str(item.get("handler") or "")
            if _same_address(handler, step.handler):
                step.bound.add(name)
            elif handler and name in step.wanted:
                step.stale.append((name, handler))
        step.refused = {k: v for k, v in step.refused.items() if k not in step.bound}


def _same_address(listed: str, ours: str) -> bool:
    """Whether a listed handler is our own, written another way (case, default port, a "/").

    Only a handler that is surely elsewhere is unbound: a portal that rewrote our URL must not
    lose our binding.
    """

    def normal(url: str) -> tuple[str, str, str, str]:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            return (url, "", "", "")
        return (scheme, f"{host}:{port}", parts.path.rstrip("/"), parts.query)

    return listed == ours or normal(listed) == normal(ours)


def _set_up_commands(step: _Step) -> dict[str, tuple[str, dict[str, Any]]]:
    """The binds a step misses and the unbinds of its stale handlers, keyed for a batch."""
    titles = {binding.placement: binding.titles for binding in PLACEMENTS}
    commands: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in step.missing():
        key = step.bind_key(name)
        if step.kind == "placement":
            commands[key] = (
                "placement.bind",
                {
                    "PLACEMENT": name,
                    "HANDLER": step.handler,
                    "TITLE": titles[name]["en"],
                    "LANG_ALL": {lang: {"TITLE": title} for lang, title in titles[name].items()},
                },
            )
        else:
            commands[key] = ("event.bind", {"event": name, "handler": step.handler})
    for index, (name, handler) in enumerate(step.stale):
        key = step.unbind_key(index)
        if step.kind == "placement":
            commands[key] = ("placement.unbind", {"PLACEMENT": name, "HANDLER": handler})
        else:
            commands[key] = ("event.unbind", {"event": name, "handler": handler})
    return commands


def _bind_missing(client: RestClient, steps: Sequence[_Step]) -> None:
    """Bind, in one batch, whatever the listing did not show; unbind handlers left elsewhere."""
    ready = [step for step in steps if not step.failure]
    commands: dict[str, tuple[str, dict[str, Any]]] = {}
    for step in ready:
        commands.update(_set_up_commands(step))
    if not commands:
        return
    # Retried after a fault like a read: a bind that did land answers "already bound" then,
    # an unbind that did land unbinds nothing.
    answer = client.batch(commands)
    for step in ready:
        refused: dict[str, str] = {}
        for name in step.missing():
            key = step.bind_key(name)
            if key in answer.results:
                step.bound.add(name)
                continue
            error = answer.errors.get(key)
            if error is None:
                refused[name] = "not answered"
                continue
            code = str(error.get("error") or "")
            description = str(error.get("error_description") or "")
            if _already_bound(code, description):
                # "Already bound" has no documented code: an error that says so in as many
                # words is believed (placement.get may not list every binding).
                step.bound.add(name)
            else:
                refused[name] = _error_line(code, description)
        step.refused = refused
        for index, (name, _handler) in enumerate(step.stale):
            if step.unbind_key(index) in answer.results:
                log.info("unbound %s %s from an earlier app address", step.kind, name)
            else:
                # The app works; the portal shows a second, stale entry until the next set-up.
                log.warning("could not unbind %s %s from an earlier app address", step.kind, name)


def _always_first() -> bool:
    return True


def install_from_event(
    ctx: AppContext, event: EventPost, first_delivery: FirstDelivery = _always_first
) -> Portal | None:
    """The server-to-server install (ONAPPINSTALL shape): verify, store, set up.

    None when, verified, it turns out to repeat a delivery already acted on.
    """
    if not event.access_token or not event.refresh_token:
        raise VerificationError("missing_tokens", 400)
    address = portal_address(
        event.domain,
        "0" if event.client_endpoint.startswith("http://") else "1",
        allow_insecure=ctx.settings.allow_insecure,
    )
    server = ctx.oauth_server(event.server_endpoint)
    verified = server.verify(event.access_token, member_id=event.member_id, domain=address.domain)
    address = confirmed_address(address, verified)
    # Any portal user holds a verifiable token; a real install callback carries the admin's.
    if not is_admin_token(ctx, address.client_endpoint, event.access_token):
        log.warning("security: an install callback with a non-admin's token refused")
        raise VerificationError("installer_not_admin", 403)
    if not first_delivery():
        return None
    language = str(event.data.get("LANGUAGE_ID") or "").lower() or None
    portal = ctx.db.upsert_portal(
        member_id=event.member_id,
        domain=address.domain,
        scheme=address.scheme,
        client_endpoint=address.client_endpoint,
        server_endpoint=server_endpoint_to_store(ctx, event.server_endpoint, event.member_id),
        language=language,
        phone_region=region_for_language(language),
        application_token=event.application_token,
    )
    version = verified.version or str(event.data.get("VERSION") or "")[:32] or None
    if version:
        ctx.db.update_portal(portal.id, app_version=version)
    ctx.db.store_token(
        portal_id=portal.id,
        user_id=verified.user_id,
        access_token=event.access_token,
        refresh_token=event.refresh_token,
        expires_at=time.time() + event.expires_in,
        is_installer=True,
    )
    failures = set_up_portal(ctx, portal, verified.user_id)
    if failures:
        raise VerificationError("setup_failed", 502)
    fresh = ctx.db.get_portal(portal_id=portal.id)
    assert fresh is not None
    return fresh


def uninstall_confirmed(ctx: AppContext, portal: Portal) -> bool:
    """True when the portal no longer accepts the app's tokens (or the app holds none)."""
    pair = ctx.db.get_installer_token(portal.id) or ctx.db.any_token(portal.id)
    if pair is None:
        return True
    try:
        info = ctx.rest(portal, pair.user_id).call("app.info")
    except AuthFailed:
        return True  # the token and its refresh are dead: the app was removed
    except BitrixError as exc:
        log.warning("uninstall could not be confirmed (%s); ignored for now", exc.code)
        return False
    return isinstance(info, dict) and info.get("INSTALLED") is False


def handle_event(
    ctx: AppContext, event: EventPost, first_delivery: FirstDelivery = _always_first
) -> str:
    """Act on a verified event; returns what was done (for the log, never a secret).

    ``first_delivery`` is asked only once the event has verified, right before acting: a
    forged copy can't use up the genuine delivery's turn, and a repeat is dropped.
    """
    if event.event == "ONAPPINSTALL":
        if install_from_event(ctx, event, first_delivery) is None:
            return REPEATED
        return "installed"
    portal = ctx.db.get_portal(member_id=event.member_id)
    if portal is None:
        return "ignored: unknown member"
    if event.event == "ONAPPUPDATE" and event.access_token:
        # An update may carry a new application_token: trust it only after app.info agrees.
        address = portal_address(
            event.domain or portal.domain,
            "0" if portal.scheme == "http" else "1",
            allow_insecure=ctx.settings.allow_insecure,
        )
        server = ctx.oauth_server(event.server_endpoint or portal.server_endpoint)
        verified = server.verify(
            event.access_token, member_id=portal.member_id, domain=address.domain
        )
        # A renamed portal's events name its new domain: store it whole (scheme, REST base).
        address = confirmed_address(address, verified)
        # Every user's token passes app.info, and every user's frame shows the application_token:
        # only a portal admin's update may bring a different one (or the first one).
        if ctx.db.application_token_matches(
            portal, event.application_token
        ) is not True and not is_admin_token(ctx, address.client_endpoint, event.access_token):
            log.warning(
                "security: ONAPPUPDATE with a new application_token from a non-admin ignored; "
                "the stored one is kept"
            )
            return "ignored: new application_token not from an admin"
        if not first_delivery():
            return REPEATED
        ctx.db.update_portal(
            portal.id,
            application_token=event.application_token,
            domain=address.domain,
            scheme=address.scheme,
            client_endpoint=address.client_endpoint,
            server_endpoint=server_endpoint_to_store(ctx, event.server_endpoint, portal.member_id),
        )
        # A new version may serve more placements: bind what is missing, as the admin.
        installer = ctx.db.get_installer_token(portal.id)
        failures: list[str] = []
        if installer is not None:
            current = ctx.db.get_portal(portal_id=portal.id) or portal
            failures = set_up_portal(ctx, current, installer.user_id)
        if failures:
            # The app stays usable with what was bound before; what failed is kept in the
            # portal's setup_error, and the next update or reinstall binds it.
            log.warning("update set-up incomplete: %s", "; ".join(failures))
        # The version is recorded once its set-up ran; it is what the OAuth server says is
        # installed, not what the form claims.
        ctx.db.update_portal(
            portal.id,
            app_version=verified.version
            or str(event.data.get("VERSION") or "")
            or portal.app_version,
        )
        return "updated, set-up incomplete" if failures else "updated"
    if not ctx.db.application_token_matches(portal, event.application_token):
        log.warning("security: event %s with a wrong application_token ignored", event.event)
        return "ignored: application_token mismatch"
    if event.event == "ONAPPUNINSTALL":
        # Every user's browser sees the application_token (frame POSTs carry it), so it alone
        # does not prove the portal removed the app. Bitrix24 revokes the app's API access
        # before this event: confirm that with a stored token before wiping anything.
        if not uninstall_confirmed(ctx, portal):
            log.warning("security: ONAPPUNINSTALL ignored: the portal still accepts the app")
            return "ignored: portal still has the app installed"
        if not first_delivery():
            return REPEATED
        purge = str(event.data.get("CLEAN") or "0").strip() == "1"
        ctx.db.uninstall_portal(portal.id, purge=purge)
        ctx.verifications.forget_portal(portal.member_id)
        return "uninstalled"
    if not first_delivery():
        return REPEATED
    return "ignored: unhandled event"
