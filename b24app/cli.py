"""Command line: ``b24app demo`` (app + emulated portal on loopback) and ``b24app init-db``."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.serving import make_server

if TYPE_CHECKING:
    from b24app.config import Settings
    from b24app.storage import Database

SDK_PATH = Path("node_modules/@bitrix24/b24jssdk/dist/umd/index.min.js")


def _find_sdk() -> Path | None:
    configured = os.environ.get("B24_JSSDK_FILE")
    candidates = [Path(configured)] if configured else []
    candidates += [Path.cwd() / SDK_PATH, Path(__file__).resolve().parent.parent / SDK_PATH]
    return next((path.resolve() for path in candidates if path.is_file()), None)


def demo(args: argparse.Namespace) -> int:
    """Start the emulated portal and the app on loopback, register the app, print the URL."""
    from b24app import create_app
    from b24app.devportal import DevPortal

    sdk = _find_sdk()
    if sdk is None:
        print(
            "The frame SDK is not installed: run `npm ci` in the project folder first "
            "(`make demo` does it for you).",
            file=sys.stderr,
        )
        return 2
    host = "127.0.0.1"
    app_url = f"http://{host}:{args.port}"
    emulator = DevPortal(seed=True, limits=not args.no_limits, lang=args.lang)
    emulator.start(host=host, oauth_port=args.oauth_port, portal_port=args.portal_port)
    client_id = f"local.{secrets.token_hex(7)}.{secrets.token_hex(4)}"
    client_secret = secrets.token_urlsafe(32)
    emulator.register_app(client_id, client_secret, app_url)

    db_path = Path(args.db).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    app = create_app(
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "app_url": app_url,
            "secret_key": secrets.token_urlsafe(32),
            "database_url": f"sqlite:///{db_path}",
            "oauth_servers": (emulator.oauth_url,),
            "allow_insecure": True,
            "jssdk_file": str(sdk),
        }
    )
    server = make_server(host, args.port, app, threaded=True)
    portal = emulator.portal
    print(
        "\nBitrix24 duplicate finder: demo\n"
        f"  emulated portal   {portal.url}/   (OAuth server {emulator.oauth_url})\n"
        f"  the app           {app_url}/   (database {db_path})\n\n"
        f"Open {portal.url}/marketplace/local/ and press Install (you are the portal admin),\n"
        f"then open {portal.url}/crm/contact/list/ and choose Applications > Find duplicates\n"
        f"(in the admin's language: the portal's, {args.lang}). Switch the user (top right) to\n"
        "Maria Manager for English, Jonas Becker for German, or Oleg Restricted, who may not\n"
        "delete records. Every start is a fresh portal and a fresh database.\n"
        "Press Ctrl+C to stop.\n",
        flush=True,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        print("stopping")
    finally:
        server.shutdown()
        emulator.stop()
    return 0


def init_db(_args: argparse.Namespace) -> int:
    """Create the schema in DATABASE_URL (the Procfile's release step)."""
    from dotenv import load_dotenv

    from b24app.config import ConfigError, load_settings
    from b24app.storage import Database

    load_dotenv(Path.cwd() / ".env")
    try:
        settings = load_settings(instance_path=Path("instance"))
    except ConfigError as exc:
        print(f"b24app: {exc}", file=sys.stderr)
        return 2
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    Database(settings.database_url).create_tables()
    print("schema ready")
    return 0


def _open_database() -> tuple[Settings, Database] | None:
    """Settings and the database from the environment, or None after printing why not."""
    from dotenv import load_dotenv

    from b24app.config import ConfigError, load_settings
    from b24app.security import TokenCipher
    from b24app.storage import Database

    load_dotenv(Path.cwd() / ".env")
    try:
        settings = load_settings(instance_path=Path("instance"))
    except ConfigError as exc:
        print(f"b24app: {exc}", file=sys.stderr)
        return None
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    cipher = TokenCipher(settings.token_encryption_key, settings.token_keys_old)
    db = Database(settings.database_url, cipher=cipher)
    db.create_tables()
    return settings, db


def rotate_token_keys(_args: argparse.Namespace) -> int:
    """Re-encrypt stored tokens under B24_TOKEN_KEY (or SECRET_KEY); hash plain app tokens."""
    opened = _open_database()
    if opened is None:
        return 2
    _settings, db = opened
    rotated, unreadable = db.rotate_token_keys()
    print(f"re-encrypted {rotated} token pair(s); {unreadable} unreadable with the given keys")
    hashed, pending = db.hash_application_tokens()
    print(
        f"hashed {hashed} plain application_token(s); {pending} hashed under an old key "
        "(re-hashed when the portal next sends it: keep that key in B24_TOKEN_KEYS_OLD "
        "until then)"
    )
    return 0 if unreadable == 0 else 1


def clear_credentials_alarm(_args: argparse.Namespace) -> int:
    """Resume token refresh after the credentials alarm (an operator fixed the cause)."""
    opened = _open_database()
    if opened is None:
        return 2
    _settings, db = opened
    cleared = db.clear_alarm("app_credentials_invalid")
    print("credentials alarm cleared" if cleared else "no credentials alarm was raised")
    return 0


def mark_stale_installs(_args: argparse.Namespace) -> int:
    """Mark portals whose set-up never completed within B24_INSTALL_TTL as need_reinstall."""
    import time

    opened = _open_database()
    if opened is None:
        return 2
    settings, db = opened
    stale = db.mark_stale_installs(older_than=time.time() - settings.install_ttl)
    print(f"{len(stale)} portal(s) marked need_reinstall")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``b24app`` command."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser(prog="b24app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo_parser = sub.add_parser("demo", help="run the app against an emulated portal")
    demo_parser.add_argument("--port", type=int, default=8700, help="the app's port")
    demo_parser.add_argument("--portal-port", type=int, default=8701)
    demo_parser.add_argument("--oauth-port", type=int, default=8702)
    demo_parser.add_argument("--db", default="instance/demo.sqlite3")
    demo_parser.add_argument(
        "--no-limits", action="store_true", help="switch off the emulated rate limits"
    )
    demo_parser.add_argument(
        "--lang",
        default="ru",
        help="the portal's language (its admin's, and its phone country): ru, en, de, ...",
    )
    demo_parser.set_defaults(func=demo)
    init_parser = sub.add_parser("init-db", help="create the database schema")
    init_parser.set_defaults(func=init_db)
    rotate_parser = sub.add_parser(
        "rotate-token-keys", help="re-encrypt stored tokens under the current key"
    )
    rotate_parser.set_defaults(func=rotate_token_keys)
    alarm_parser = sub.add_parser(
        "clear-credentials-alarm", help="resume token refresh after an invalid_client alarm"
    )
    alarm_parser.set_defaults(func=clear_credentials_alarm)
    stale_parser = sub.add_parser(
        "mark-stale-installs", help="mark set-ups that never completed as need_reinstall"
    )
    stale_parser.set_defaults(func=mark_stale_installs)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
