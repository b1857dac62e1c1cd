"""Command line: the demo, the worker, the schema, and operators' tools (``b24app --help``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.serving import make_server

if TYPE_CHECKING:
    from b24app.config import Settings
    from b24app.storage import Database
    from b24app.storage.db import Portal

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
            # the demo is one process: its queue lives in its database, consumed in-process
            "redis_url": "",
            "run_worker": True,
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


def _database_url() -> str:
    """DATABASE_URL from the environment (or .env), else the default SQLite file."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path('instance').resolve()}/b24app.sqlite3"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


def _plain_database() -> Database:
    """The database of DATABASE_URL, for commands that never read a token."""
    from b24app.storage import Database

    return Database(_database_url())


def db_upgrade(args: argparse.Namespace) -> int:
    """Create the schema, or migrate it to the newest revision (the Procfile's release step)."""
    from b24app.storage import migrate

    db = _plain_database()
    try:
        done = migrate.upgrade(db.engine, args.revision)
    except migrate.SchemaError as exc:
        print(f"b24app: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    said = {
        "created": "schema created",
        "stamped": "schema made before migrations recognised",
        "upgraded": "schema upgraded",
        "none": "schema already current",
    }
    print(f"{said.get(done.action, done.action)}: revision {done.current} (newest {done.head})")
    return 0


def db_status(_args: argparse.Namespace) -> int:
    """Print the database's revision and any difference from the app's tables."""
    from b24app.storage import migrate

    db = _plain_database()
    try:
        state = migrate.state(db.engine)
        diffs = migrate.differences(db.engine) if state.is_current else []
    finally:
        db.close()
    print(f"revision {state.current or 'none'} (newest {state.head})")
    for diff in diffs:
        print(f"  differs: {diff}")
    if not state.is_current:
        print("run `b24app db upgrade`")
    return 0 if state.is_current and not diffs else 1


def _portal_of(db: Database, args: argparse.Namespace) -> Portal | None:
    """The portal named by --member-id or --domain, or None after saying why."""
    if args.member_id:
        portal = db.get_portal(member_id=args.member_id)
        if portal is None:
            print(f"b24app: no portal with member_id {args.member_id}", file=sys.stderr)
        return portal
    found = db.find_portals(domain=args.domain)
    if not found:
        print(f"b24app: no portal with domain {args.domain}", file=sys.stderr)
        return None
    if len(found) > 1:
        ids = ", ".join(portal.member_id for portal in found)
        print(f"b24app: several portals have that domain ({ids}); use --member-id", file=sys.stderr)
        return None
    return found[0]


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))


def list_jobs(args: argparse.Namespace) -> int:
    """Print a portal's most recent jobs (all users), newest first."""
    db = _plain_database()
    try:
        portal = _portal_of(db, args)
        if portal is None:
            return 2
        found = db.portal_jobs(portal.id, status=args.status, limit=args.limit)
    finally:
        db.close()
    if args.json:
        for job in found:
            print(
                json.dumps(
                    {
                        "id": job.id,
                        "kind": job.kind,
                        "status": job.status,
                        "entityTypeId": job.entity_type_id,
                        "userId": job.user_id,
                        "createdAt": job.created_at,
                        "finishedAt": job.finished_at,
                        "progress": [job.progress_done, job.progress_total],
                        "errorCode": job.error_code,
                    }
                )
            )
        return 0
    print(f"portal {portal.domain} (member_id {portal.member_id}, {portal.state})")
    if not found:
        print("no jobs")
        return 0
    header = ("job", "kind", "status", "type", "user", "created (UTC)", "finished", "done", "error")
    rows = [
        (
            job.id,
            job.kind,
            job.status,
            str(job.entity_type_id),
            str(job.user_id),
            _when(job.created_at),
            _when(job.finished_at),
            f"{job.progress_done}/{job.progress_total if job.progress_total is not None else '?'}",
            job.error_code or "",
        )
        for job in found
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def purge_portal(args: argparse.Namespace) -> int:
    """Delete everything stored about a portal that uninstalled the app; refuse otherwise."""
    from b24app.storage.db import PortalInstalled

    db = _plain_database()
    try:
        portal = _portal_of(db, args)
        if portal is None:
            return 2
        if not args.yes:
            print(
                f"b24app: this deletes every record of portal {portal.domain} "
                f"(member_id {portal.member_id}); repeat with --yes",
                file=sys.stderr,
            )
            return 2
        try:
            counts = db.purge_portal(portal.id)
        except PortalInstalled as exc:
            print(
                f"b24app: portal {portal.domain} is {exc.args[0]}, not uninstalled: its data "
                "is purged only after the app is removed from it",
                file=sys.stderr,
            )
            return 1
    finally:
        db.close()
    deleted = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
    print(f"purged portal {portal.domain} (member_id {portal.member_id}): {deleted}")
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
    db.upgrade_schema()
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


def worker(args: argparse.Namespace) -> int:
    """Consume the task queue in the foreground until SIGTERM or SIGINT (the Procfile's worker)."""
    opened = _open_database()
    if opened is None:
        return 2
    settings, db = opened
    import faulthandler
    import signal

    from b24app.context import AppContext
    from b24app.jobs.queue import job_queue

    # `kill -USR1 <pid>` prints every thread's stack: what a stuck worker is waiting for.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    queue = job_queue(AppContext(settings, db))
    threads = args.threads or settings.worker_threads
    if threads < 1:
        print("b24app: --threads must be at least 1", file=sys.stderr)
        return 2
    logging.getLogger("b24app").info(
        "worker: %s job(s) at a time from the %s queue", threads, queue.backend
    )
    queue.consumer(threads).run()
    return 0


def _portal_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--member-id", help="the portal's member_id")
    which.add_argument("--domain", help="the portal's domain, e.g. example.bitrix24.com")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``b24app`` command."""
    from dotenv import load_dotenv

    from b24app import logs
    from b24app.config import ConfigError, log_format_from

    load_dotenv(Path.cwd() / ".env")
    try:
        logs.configure(log_format_from(os.environ))
    except ConfigError as exc:
        print(f"b24app: {exc}", file=sys.stderr)
        return 2
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
    worker_parser = sub.add_parser("worker", help="run queued scans and merges")
    worker_parser.add_argument(
        "--threads", type=int, default=0, help="jobs at a time (default B24_WORKER_THREADS, 2)"
    )
    worker_parser.set_defaults(func=worker)
    db_parser = sub.add_parser("db", help="the database schema")
    db_sub = db_parser.add_subparsers(dest="db_command", required=True)
    upgrade_parser = db_sub.add_parser(
        "upgrade", help="create the schema or migrate it to the newest revision"
    )
    upgrade_parser.add_argument("revision", nargs="?", default="head", help=argparse.SUPPRESS)
    upgrade_parser.set_defaults(func=db_upgrade)
    status_parser = db_sub.add_parser(
        "status", help="the schema's revision; exit status 1 unless current"
    )
    status_parser.set_defaults(func=db_status)
    init_parser = sub.add_parser("init-db", help="the same as `db upgrade` (earlier name)")
    init_parser.set_defaults(func=db_upgrade, revision="head")
    jobs_parser = sub.add_parser("jobs", help="list a portal's jobs, newest first")
    _portal_arguments(jobs_parser)
    jobs_parser.add_argument(
        "--status", choices=("queued", "running", "done", "failed", "cancelled")
    )
    jobs_parser.add_argument("--limit", type=int, default=50)
    jobs_parser.add_argument("--json", action="store_true", help="one JSON object per line")
    jobs_parser.set_defaults(func=list_jobs)
    purge_parser = sub.add_parser(
        "purge-portal", help="delete every record of a portal that uninstalled the app"
    )
    _portal_arguments(purge_parser)
    purge_parser.add_argument("--yes", action="store_true", help="really delete")
    purge_parser.set_defaults(func=purge_portal)
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
