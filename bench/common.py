"""What the benchmarks share: the portal process, and the app's client wired as the app does."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from b24app.bitrix.auth import StaticToken
from b24app.bitrix.client import RestClient
from b24app.bitrix.pacing import RatePlan, SharedPacer
from b24app.storage.db import Database

HERE = Path(__file__).resolve().parent


@dataclass
class PortalProcess:
    """The emulated portal running in a child process (its memory is not ours)."""

    proc: subprocess.Popen[str]
    info: dict[str, Any]

    @classmethod
    def start(cls, *args: str) -> PortalProcess:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "portal.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        return cls(proc, json.loads(proc.stdout.readline()))

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def app_client(portal: PortalProcess, db: Database | None = None, paced: bool = True) -> RestClient:
    """The app's REST client as AppContext builds it: pooled session, shared pacer."""
    limits = portal.info["limits"]
    if db is None:
        db = Database(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
        db.create_tables()
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=32, pool_maxsize=32)
    session.mount("http://", adapter)
    plan = RatePlan(
        burst=limits["burst"],
        drain_per_sec=limits["drain"],
        method_budget_s=limits["budget"],
        blocked_pause_s=60.0 * limits["window"] / 600.0,
    )
    pacer = SharedPacer(db, portal.info["url"], plan, poll=min(0.25, limits["window"] / 600))
    return RestClient(
        session,
        portal.info["url"],
        StaticToken(portal.info["token"]),
        pacer=pacer if paced else None,
    )


def peak_rss_mb() -> float:
    """This process's peak resident set size."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
