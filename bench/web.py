"""The web tier: progress polling under load, and the time from a frame POST to a page.

    .venv/bin/python bench/web.py [--duration 10] [--connections 32]

gunicorn runs the Procfile's own ``web:`` line (its workers and threads) on an app that adds one
trivial endpoint; wrk (Debian's ``wrk``), in a second process, loads ``GET /api/merges/<id>``
(the UI's polling, with a session token) and then the trivial endpoint, and the polling's
throughput is reported as a ratio to the trivial one's. Then a user opens the app from the
emulated portal: with a new token (the app asks the OAuth server's app.info) and again with the
same one (the kept verification answers; no round trip, whichever gunicorn worker serves it).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from b24app.devportal import SEED_GROUPS, DevPortal

ROOT = Path(__file__).resolve().parent.parent
SESSION_META = re.compile(r'<meta name="b24app-session" content="([^"]+)"')
SDK = ROOT / "node_modules/@bitrix24/b24jssdk/dist/umd/index.min.js"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def procfile_web(port: int) -> list[str]:
    """The Procfile's web: command for this port, serving bench/webapp.py's app."""
    line = next(
        entry.split(":", 1)[1].strip()
        for entry in (ROOT / "Procfile").read_text().splitlines()
        if entry.startswith("web:")
    )
    line = line.replace("${PORT:-8000}", str(port)).replace("0.0.0.0", "127.0.0.1")
    line = re.sub(r"\$\{WEB_CONCURRENCY:-(\d+)\}", os.environ.get("WEB_CONCURRENCY", r"\1"), line)
    words = shlex.split(line)
    app_spec = next(w for w in words if w.startswith("b24app:"))
    words[words.index(app_spec)] = "webapp:create()"
    bin_dir = Path(sys.executable).parent
    return [str(bin_dir / words[0]), "--pythonpath", str(ROOT / "bench"), *words[1:]]


def wrk(url: str, token: str | None, duration: int, connections: int) -> dict[str, float]:
    """Requests a second and latency percentiles (ms) of one endpoint under wrk's load."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"p{pct}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def timed_open(url: str, post: Any) -> tuple[float, str]:
    started = time.perf_counter()
    response = requests.post(f"{url}/app", params=post.query, data=post.form, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    match = SESSION_META.search(response.text)
    if response.status_code != 200 or match is None:
        raise SystemExit(f"/app answered {response.status_code}")
    return elapsed, match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of both endpoints")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--opens", type=int, default=40)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="b24bench-"))
    emu = DevPortal(seed=True, limits=False).start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emu.register_app("local.bench.web", "bench-web-secret", url)
    env = {
        **os.environ,
        "B24_CLIENT_ID": "local.bench.web",
        "B24_CLIENT_SECRET": "bench-web-secret",
        "B24_APP_URL": url,
        "SECRET_KEY": "bench-web-secret-key-0123456789",
        "DATABASE_URL": f"sqlite:///{workdir / 'app.sqlite3'}",
        "B24_OAUTH_SERVERS": emu.oauth_url,
        "B24_ALLOW_INSECURE": "1",
        "B24_JSSDK_FILE": str(SDK) if SDK.is_file() else "",
    }
    command = procfile_web(port)
    log = (workdir / "gunicorn.log").open("wb")
    gunicorn = subprocess.Popen(
        command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=log
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                if requests.get(f"{url}/bench/trivial", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline or gunicorn.poll() is not None:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)
        post, frame = emu.portal.open_frame(1, install=True)
        requests.post(f"{url}/install", params=post.query, data=post.form, timeout=30)
        emu.portal.finish_install(frame.sid)
        _, token = timed_open(url, emu.portal.frame_post(1))
        groups = [list(g.ids) for g in SEED_GROUPS if g.entity_type_id == 3]
        job = requests.post(
            f"{url}/api/merges",
            json={"entityTypeId": 3, "groups": groups},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()["id"]
        polled = f"{url}/api/merges/{job}"
        while requests.get(polled, headers={"Authorization": f"Bearer {token}"}, timeout=30).json()[
            "status"
        ] in ("queued", "running"):
            time.sleep(0.2)
        wrk(f"{url}/bench/trivial", None, 2, args.connections)  # warm up
        # Rounds taking turns, so that a moment of contention (or gunicorn's workers sharing
        # the connections unevenly) weighs on both alike; the median round is reported.
        rounds = []
        for _ in range(args.rounds):
            trivial = wrk(f"{url}/bench/trivial", None, args.duration, args.connections)
            polling = wrk(polled, token, args.duration, args.connections)
            rounds.append((polling["rps"] / trivial["rps"], trivial, polling))
        rounds.sort(key=lambda r: r[0])
        ratios = [r[0] for r in rounds]
        _, trivial, polling = rounds[len(rounds) // 2]

        fresh = [timed_open(url, emu.portal.frame_post(2))[0] for _ in range(args.opens)]
        again = emu.portal.frame_post(2)
        timed_open(url, again)
        asked = len(emu.app_info_log)
        reopen = [timed_open(url, again)[0] for _ in range(args.opens)]
        reopen_asked = len(emu.app_info_log) - asked
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
        log.close()
        emu.stop()

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    print(
        f"web tier: {' '.join(command[1:])}  (wrk -t2 -c{args.connections}, "
        f"{args.rounds} rounds of {args.duration} s each)"
    )
    print(
        f"  trivial endpoint      {trivial['rps']:.0f} req/s   p50 {trivial['p50']:.1f} ms   "
        f"p99 {trivial['p99']:.1f} ms   non-2xx {trivial['non2xx']:.0f}"
    )
    print(
        f"  GET /api/merges/<id>  {polling['rps']:.0f} req/s   p50 {polling['p50']:.1f} ms   "
        f"p99 {polling['p99']:.1f} ms   non-2xx {polling['non2xx']:.0f}   "
        f"({len(groups)} results a poll)"
    )
    print(
        f"  polling / trivial     {polling['rps'] / trivial['rps']:.2f}   (target >= 0.5; the "
        f"median of {len(ratios)} rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(
        f"  frame POST -> page    new token: median {statistics.median(fresh):.1f} ms, "
        f"p95 {pct(fresh, 95):.1f} ms (one app.info each)"
    )
    print(
        f"                        reopened:  median {statistics.median(reopen):.1f} ms, "
        f"p95 {pct(reopen, 95):.1f} ms ({reopen_asked} app.info calls in {args.opens} reopens)"
    )


if __name__ == "__main__":
    main()
