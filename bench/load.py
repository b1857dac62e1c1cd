"""Many users at once: 4 gunicorn workers and 2 queue workers on one PostgreSQL.

    .venv/bin/python bench/load.py [--users 50] [--seconds 30] [--database-url postgresql://...]

Without ``--database-url`` (or B24_BENCH_DATABASE_URL) it starts a PostgreSQL server of its own
with ``.ci/postgres`` and removes it afterwards. The emulator (limits off: the app is measured
here, not the portal) serves ten portals of five users each; the app runs as the Procfile runs
it with WEB_CONCURRENCY=4 and two ``b24app worker`` processes consume the queue in the database
(the web processes do not: B24_EMBEDDED_WORKER=0). A second process plays the users, each in
its own thread until the time is up: open the app from the portal (a frame POST), start a scan
(the first user of each portal merges the groups it found instead), poll the job every 0.2 s
as the UI does until it ends, list the jobs, open the app again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web import SDK, free_port, procfile_web  # noqa: E402

from b24app.devportal import DevPortal  # noqa: E402
from b24app.devportal.users import User  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PORTALS = 10
USERS_PER_PORTAL = 5


def _users(args: argparse.Namespace, emu: DevPortal, url: str) -> list[dict[str, Any]]:
    """Install the app in every portal and give each user a frame POST to open it with."""
    people: list[dict[str, Any]] = []
    portals = [emu.portal] + [emu.add_portal(lang="en", seed=True) for _ in range(PORTALS - 1)]
    for number, portal in enumerate(portals):
        for user_id in range(5, USERS_PER_PORTAL + 1):
            portal.users[user_id] = User(user_id, f"User{user_id}", f"P{number}", f"u{user_id}@x")
        post, frame = portal.open_frame(1, install=True)
        answer = requests.post(f"{url}/install", params=post.query, data=post.form, timeout=60)
        if 'data-state="ok"' not in answer.text:
            raise SystemExit(f"install failed on portal {number}: {answer.status_code}")
        portal.finish_install(frame.sid)
        for user_id in range(1, USERS_PER_PORTAL + 1):
            post = portal.frame_post(user_id)
            people.append(
                {
                    "portal": number,
                    "merges": user_id == 1,
                    "query": post.query,
                    "form": post.form,
                }
            )
    return people[: args.users]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--database-url", default=os.environ.get("B24_BENCH_DATABASE_URL", ""))
    parser.add_argument(
        "--single-machine",
        action="store_true",
        help="the embedded default instead: SQLite, the Procfile's web line as it is, no worker",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="b24load-"))
    if args.single_machine:
        args.database_url = f"sqlite:///{workdir / 'app.sqlite3'}"
    own_postgres = not args.database_url
    database_url = args.database_url
    pgdir = ""
    if own_postgres:
        pgdir = tempfile.mkdtemp(prefix="b24load-pg-")  # its own folder: the server's user owns it
        database_url = subprocess.run(
            [str(ROOT / ".ci/postgres"), "start", pgdir],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    if database_url.startswith("postgresql://"):
        database_url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    emu = DevPortal(seed=True, limits=False).start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emu.register_app("local.bench.load", "bench-load-secret", url)
    env = {
        **os.environ,
        "B24_CLIENT_ID": "local.bench.load",
        "B24_CLIENT_SECRET": "bench-load-secret",
        "B24_APP_URL": url,
        "SECRET_KEY": "bench-load-secret-key-0123456789",
        "DATABASE_URL": database_url,
        "B24_OAUTH_SERVERS": emu.oauth_url,
        "B24_ALLOW_INSECURE": "1",
        "B24_JSSDK_FILE": str(SDK) if SDK.is_file() else "",
        "B24_LOG_FORMAT": "text",
    }
    if not args.single_machine:
        env.update({"B24_EMBEDDED_WORKER": "0", "WEB_CONCURRENCY": "4"})
    env.pop("REDIS_URL", None)
    command = procfile_web(port)
    log = (workdir / "gunicorn.log").open("wb")
    gunicorn = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=log)
    workers = [
        subprocess.Popen(
            [str(Path(sys.executable).parent / "b24app"), "worker"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=log,
        )
        for _ in range(0 if args.single_machine else 2)
    ]
    try:
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline or gunicorn.poll() is not None:
                raise SystemExit(f"gunicorn did not start: see {workdir / 'gunicorn.log'}")
            time.sleep(0.3)
        people = _users(args, emu, url)
        plan = workdir / "plan.json"
        plan.write_text(json.dumps({"url": url, "seconds": args.seconds, "people": people}))
        loader = Path(__file__).resolve().parent / "loader.py"
        started = time.perf_counter()
        ran = subprocess.run(
            [sys.executable, str(loader), str(plan)],
            capture_output=True,
            text=True,
            timeout=args.seconds + 300,
        )
        wall = time.perf_counter() - started
        if ran.returncode != 0:
            raise SystemExit(ran.stderr[-3000:])
        seen = json.loads(ran.stdout)
    finally:
        for process in [gunicorn, *workers]:
            process.terminate()
        for process in [gunicorn, *workers]:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        emu.stop()
        if own_postgres:
            subprocess.run([str(ROOT / ".ci/postgres"), "stop", pgdir], check=False)
    statuses = Counter(status for _, status, _ in seen)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, _, elapsed in seen:
        by_kind[kind].append(elapsed * 1000)
    errors = sum(n for status, n in statuses.items() if status >= 500)
    setup = (
        "the Procfile's web line as it is (2 workers, jobs in them), SQLite"
        if args.single_machine
        else "gunicorn --workers 4 (Procfile), 2 queue workers, PostgreSQL"
    )
    print(f"load: {len(people)} users on {PORTALS} portals for {args.seconds} s; {setup}")
    print(f"  requests              {len(seen)} in {wall:.1f} s ({len(seen) / wall:.0f}/s)")
    print(f"  statuses              {dict(sorted(statuses.items()))}   5xx: {errors}")
    for kind in ("open", "start", "poll", "jobs"):
        values = by_kind.get(kind, [])
        if len(values) > 1:
            p99 = statistics.quantiles(values, n=100)[98]
            print(
                f"  {kind:<21} {len(values):>6}   p50 {statistics.median(values):7.1f} ms"
                f"   p99 {p99:7.1f} ms"
            )
    print(f"  logs                  {workdir / 'gunicorn.log'}")


if __name__ == "__main__":
    main()
