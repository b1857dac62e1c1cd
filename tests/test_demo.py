"""`b24app demo` as a newcomer runs it (on free ports): install, open, scan, merge, stop."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.helpers import SESSION_META, wait_until


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        time.sleep(0.2)
        return False


def test_the_demo_installs_scans_and_merges_over_http(tmp_path: Path) -> None:
    app_port, portal_port, oauth_port = _free_ports(3)
    demo = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "b24app"),
            "demo",
            "--port",
            str(app_port),
            "--portal-port",
            str(portal_port),
            "--oauth-port",
            str(oauth_port),
            "--db",
            str(tmp_path / "demo.sqlite3"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    app = f"http://127.0.0.1:{app_port}"
    portal = f"http://127.0.0.1:{portal_port}"
    try:
        wait_until(lambda: _up(f"{app}/healthz") and _up(f"{portal}/"), timeout=30)
        assert "Install" in requests.get(f"{portal}/marketplace/local/", timeout=10).text
        web = requests.Session()  # the admin's browser (user 1 by default)

        def frame(spec: dict[str, object]) -> tuple[str, requests.Response]:
            """What the portal page's script does to open an app frame."""
            params = web.post(f"{portal}/_emu/frame-params", json=spec, timeout=10).json()
            return params["sid"], web.post(params["action"], data=params["fields"], timeout=30)

        sid, page = frame({"install": True})
        assert 'data-state="ok"' in page.text
        assert web.post(f"{portal}/_emu/frame/{sid}/install-finish", timeout=10).ok
        _, page = frame(
            {"placement": "CRM_CONTACT_LIST_TOOLBAR", "handler": f"{app}/app", "options": {}}
        )
        match = SESSION_META.search(page.text)
        assert match, page.text[:500]
        auth = {"Authorization": f"Bearer {match.group(1)}"}
        scan_id = web.post(
            f"{app}/api/scans", json={"entityTypeId": 3}, headers=auth, timeout=10
        ).json()["id"]
        scan: dict = {}
        wait_until(
            lambda: (
                scan.update(web.get(f"{app}/api/scans/{scan_id}", headers=auth, timeout=10).json())
                or scan["status"] not in ("queued", "running")
            ),
            timeout=60,
        )
        assert scan["status"] == "done" and scan["groups"]
        group = next(g["entityIds"] for g in scan["groups"] if g["entityIds"] == [5, 6])
        merge_id = web.post(
            f"{app}/api/merges",
            json={"entityTypeId": 3, "groups": [group]},
            headers=auth,
            timeout=10,
        ).json()["id"]
        merge: dict = {}
        wait_until(
            lambda: (
                merge.update(
                    web.get(f"{app}/api/merges/{merge_id}", headers=auth, timeout=10).json()
                )
                or merge["status"] not in ("queued", "running")
            ),
            timeout=60,
        )
        assert [r["status"] for r in merge["results"]] == ["SUCCESS"]
    finally:
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=20)
    assert demo.returncode == 0, out
    assert re.search(rf"emulated portal\s+{re.escape(portal)}/", out)
    assert f"{portal}/marketplace/local/" in out
    assert "stopping" in out and "Traceback" not in out
