"""Bitrix24 duplicate finder: a Flask app that installs into portals and merges duplicates."""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from flask import Flask

from b24app import logs
from b24app.config import ConfigError, Settings, load_settings
from b24app.context import AppContext
from b24app.security import TokenCipher
from b24app.storage.db import Database

log = logging.getLogger("b24app")

PACKAGE_DIR = Path(__file__).resolve().parent


def _template_folder() -> str:
    """The top-level templates/ of a checkout, or its installed copy."""
    beside = PACKAGE_DIR.parent / "templates"
    if beside.is_dir():
        return str(beside)
    import sys

    return str(Path(sys.prefix) / "share" / "b24app" / "templates")


def _file_integrity(path: str) -> str:
    digest = hashlib.sha384(Path(path).read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The app factory (``gunicorn 'b24app:create_app()'``).

    ``test_config`` overrides settings (any field of ``Settings``) for tests and the demo.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=_template_folder(),
        static_folder="static",
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if test_config is None:
        load_dotenv(Path.cwd() / ".env")
    settings = load_settings(overrides=test_config, instance_path=app.instance_path)
    logs.configure(settings.log_format)
    if settings.jssdk_file:
        if not Path(settings.jssdk_file).is_file():
            raise ConfigError(f"B24_JSSDK_FILE names no file: {settings.jssdk_file}")
        if settings.jssdk_url.startswith("https://"):
            from dataclasses import replace

            settings = replace(
                settings,
                jssdk_url="/vendor/b24jssdk.js",
                jssdk_integrity=_file_integrity(settings.jssdk_file),
            )
    if settings.allow_insecure:
        log.warning(
            "B24_ALLOW_INSECURE=1: http:// and loopback portals and OAuth servers are accepted. "
            "Never run a production install like this."
        )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    cipher = TokenCipher(settings.token_encryption_key, settings.token_keys_old)
    db = Database(settings.database_url, cipher=cipher)
    db.create_tables()
    ctx = AppContext(settings, db)
    app.extensions["b24app"] = ctx

    from b24app.web import register

    register(app, ctx)
    return app


def app_context(app: Flask) -> AppContext:
    """The AppContext of an app built by create_app."""
    ctx = app.extensions["b24app"]
    assert isinstance(ctx, AppContext)
    return ctx


__all__ = ["ConfigError", "Settings", "app_context", "create_app"]
