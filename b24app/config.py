"""Settings read from the environment, checked once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_OAUTH_SERVERS = ("https://oauth.bitrix.info", "https://oauth.bitrix24.tech")
JSSDK_VERSION = "2.2.0"
DEFAULT_JSSDK_URL = (
    f"https://cdn.jsdelivr.net/npm/@bitrix24/b24jssdk@{JSSDK_VERSION}/dist/umd/index.min.js"
)
# sha384 of dist/umd/index.min.js of @bitrix24/b24jssdk 2.2.0 as published on the npm registry.
DEFAULT_JSSDK_INTEGRITY = "sha384-QFkkSEFRZAveAJ3+YS9+2cH6Rh+CTaU+zTRZYu7jiTHhalF2T/EbLm623tOIBgV9"

REQUIRED = ("B24_CLIENT_ID", "B24_CLIENT_SECRET", "B24_APP_URL", "SECRET_KEY")


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    app_url: str = ""
    secret_key: str = field(default="", repr=False)
    # Encrypts stored tokens; SECRET_KEY when unset. Old keys only decrypt (rotation).
    token_key: str = field(default="", repr=False)
    token_keys_old: tuple[str, ...] = field(default=(), repr=False)
    database_url: str = ""
    oauth_servers: tuple[str, ...] = DEFAULT_OAUTH_SERVERS
    redis_url: str = ""
    allow_insecure: bool = False
    session_ttl: int = 8 * 3600
    jssdk_url: str = DEFAULT_JSSDK_URL
    jssdk_integrity: str = DEFAULT_JSSDK_INTEGRITY
    jssdk_file: str = ""
    # The embedded queue consumer in web processes: None decides by REDIS_URL (on without it).
    run_worker: bool | None = None
    # A running job whose worker has not written for this long is resumed by another.
    job_stale_after: float = 60.0
    # How often an idle consumer looks for messages another process queued (database queue).
    queue_poll: float = 1.0
    # Jobs one `b24app worker` process runs at once.
    worker_threads: int = 2
    max_merge_groups: int = 500
    max_group_size: int = 50
    http_timeout: float = 60.0
    # invalid_client from this many portals within this many seconds: our credentials are wrong
    credentials_alarm_portals: int = 3
    credentials_alarm_window: float = 600.0
    # a portal still ``new`` (set-up never completed) this long becomes need_reinstall
    install_ttl: float = 900.0
    # The portals' REST limits the app paces itself to (Enterprise: 250 and 5).
    rate_burst: int = 50
    rate_drain: float = 2.0
    # Execution time a method may use per ten minutes before the portal answers 429.
    method_budget: float = 480.0
    # Merge calls one merge job keeps in flight while the method's budget allows.
    merge_parallel: int = 4
    # ID ranges a scan of more than one batch (2,500 records) reads at once.
    scan_parallel: int = 2
    # json (one object a line, for log collectors) or text; json unless developing
    log_format: str = "json"

    @property
    def embedded_worker(self) -> bool:
        """Whether web processes consume the queue themselves."""
        return self.run_worker if self.run_worker is not None else not self.redis_url

    @property
    def token_encryption_key(self) -> str:
        """The key material stored tokens are encrypted with."""
        return self.token_key or self.secret_key

    @property
    def default_oauth_server(self) -> str:
        """The OAuth server used when a payload names none we trust."""
        return self.oauth_servers[0]


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _embedded(env: Mapping[str, str]) -> bool | None:
    """B24_EMBEDDED_WORKER (1/0) if set; B24_NO_WORKER=1 means 0; else None (by REDIS_URL)."""
    raw = env.get("B24_EMBEDDED_WORKER", "").strip()
    if raw:
        return _flag(raw)
    return False if _flag(env.get("B24_NO_WORKER")) else None


def _origin_list(raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    if not origins:
        raise ConfigError("B24_OAUTH_SERVERS is set but names no server")
    return origins


def log_format_from(env: Mapping[str, str]) -> str:
    """B24_LOG_FORMAT, else text while developing (insecure mode, FLASK_DEBUG), else json."""
    chosen = env.get("B24_LOG_FORMAT", "").strip().lower()
    if chosen:
        if chosen not in ("json", "text"):
            raise ConfigError(f"B24_LOG_FORMAT must be json or text, not {chosen!r}")
        return chosen
    developing = _flag(env.get("B24_ALLOW_INSECURE")) or _flag(env.get("FLASK_DEBUG"))
    return "text" if developing else "json"


def load_settings(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    instance_path: str | Path = "instance",
) -> Settings:
    """Read settings from ``env`` (default: the process environment) plus explicit overrides.

    Overrides (used by tests and the demo) may name any Settings field; with overrides
    given the required variables may be absent.
    """
    env = os.environ if env is None else env
    overrides = dict(overrides or {})
    if not overrides:
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise ConfigError(f"missing required environment variable {missing[0]}")
    default_db = f"sqlite:///{Path(instance_path).resolve() / 'b24app.sqlite3'}"
    try:
        settings = Settings(
            client_id=env.get("B24_CLIENT_ID", ""),
            client_secret=env.get("B24_CLIENT_SECRET", ""),
            app_url=env.get("B24_APP_URL", "").rstrip("/"),
            secret_key=env.get("SECRET_KEY", ""),
            token_key=env.get("B24_TOKEN_KEY", ""),
            token_keys_old=tuple(
                key.strip() for key in env.get("B24_TOKEN_KEYS_OLD", "").split(",") if key.strip()
            ),
            database_url=env.get("DATABASE_URL") or default_db,
            oauth_servers=_origin_list(env["B24_OAUTH_SERVERS"])
            if env.get("B24_OAUTH_SERVERS")
            else DEFAULT_OAUTH_SERVERS,
            redis_url=env.get("REDIS_URL", ""),
            allow_insecure=_flag(env.get("B24_ALLOW_INSECURE")),
            session_ttl=int(env.get("B24_SESSION_TTL", 8 * 3600)),
            jssdk_url=env.get("B24_JSSDK_URL") or DEFAULT_JSSDK_URL,
            jssdk_integrity=env.get("B24_JSSDK_INTEGRITY", DEFAULT_JSSDK_INTEGRITY)
            if env.get("B24_JSSDK_URL") is None
            else env.get("B24_JSSDK_INTEGRITY", ""),
            jssdk_file=env.get("B24_JSSDK_FILE", ""),
            run_worker=_embedded(env),
            job_stale_after=float(env.get("B24_JOB_STALE_AFTER", 60)),
            queue_poll=float(env.get("B24_QUEUE_POLL", 1)),
            worker_threads=int(env.get("B24_WORKER_THREADS", 2)),
            credentials_alarm_portals=int(env.get("B24_CREDENTIALS_ALARM_PORTALS", 3)),
            credentials_alarm_window=float(env.get("B24_CREDENTIALS_ALARM_WINDOW", 600)),
            install_ttl=float(env.get("B24_INSTALL_TTL", 900)),
            rate_burst=int(env.get("B24_RATE_BURST", 50)),
            rate_drain=float(env.get("B24_RATE_DRAIN", 2)),
            method_budget=float(env.get("B24_METHOD_BUDGET", 480)),
            merge_parallel=int(env.get("B24_MERGE_PARALLEL", 4)),
            scan_parallel=int(env.get("B24_SCAN_PARALLEL", 2)),
            log_format=log_format_from(env),
        )
    except ValueError as exc:
        raise ConfigError(f"malformed setting: {exc}") from exc
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown setting override {sorted(unknown)[0]}")
    if "oauth_servers" in overrides:
        overrides["oauth_servers"] = tuple(s.rstrip("/") for s in overrides["oauth_servers"])
    if "app_url" in overrides:
        overrides["app_url"] = str(overrides["app_url"]).rstrip("/")
    if "allow_insecure" in overrides and "log_format" not in overrides:
        if overrides["allow_insecure"] and not env.get("B24_LOG_FORMAT"):
            overrides["log_format"] = "text"
    settings = replace(settings, **overrides)
    if settings.job_stale_after <= 0 or settings.queue_poll <= 0 or settings.worker_threads < 1:
        raise ConfigError(
            "B24_JOB_STALE_AFTER and B24_QUEUE_POLL must be positive, B24_WORKER_THREADS at least 1"
        )
    if settings.log_format not in ("json", "text"):
        raise ConfigError(f"log_format must be json or text, not {settings.log_format!r}")
    for attr, variable in zip(
        ("client_id", "client_secret", "app_url", "secret_key"), REQUIRED, strict=True
    ):
        if not getattr(settings, attr):
            raise ConfigError(f"missing required environment variable {variable}")
    return settings
