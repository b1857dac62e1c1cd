"""The users of bench/load.py, in a process of their own: ``loader.py PLAN.json`` prints what
every request answered and how long it took, as JSON."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any

import requests

SESSION_META = re.compile(r'<meta name="b24app-session" content="([^"]+)"')
ACTIVE = ("queued", "running")


class Users:
    """Every user's thread writes what it saw here."""

    def __init__(self, url: str, seconds: float) -> None:
        self.url = url
        self.until = time.time() + seconds
        self.seen: list[tuple[str, int, float]] = []
        self._lock = threading.Lock()

    def note(self, kind: str, status: int, started: float) -> None:
        with self._lock:
            self.seen.append((kind, status, time.perf_counter() - started))

    def call(
        self, session: requests.Session, kind: str, method: str, path: str, **kw: Any
    ) -> requests.Response:
        started = time.perf_counter()
        answer = session.request(method, self.url + path, timeout=60, **kw)
        self.note(kind, answer.status_code, started)
        return answer

    def follow(self, session: requests.Session, auth: dict[str, str], path: str) -> Any:
        """Poll a job every 0.2 s, as the UI does, until it ends; its last answer."""
        while True:
            answer = self.call(session, "poll", "GET", path, headers=auth)
            if answer.status_code != 200:
                return None
            body = answer.json()
            if body["status"] not in ACTIVE or time.time() > self.until + 120:
                return body
            time.sleep(0.2)

    def user(self, person: dict[str, Any]) -> None:
        """Open the app, scan (and merge what was found, for a portal's first user), poll the
        job to its end, list the jobs; again until the time is up."""
        session = requests.Session()
        while time.time() < self.until:
            page = self.call(
                session, "open", "POST", "/app", params=person["query"], data=person["form"]
            )
            found = SESSION_META.search(page.text)
            if found is None:
                time.sleep(0.5)
                continue
            auth = {"Authorization": f"Bearer {found.group(1)}"}
            scan = self.call(
                session, "start", "POST", "/api/scans", json={"entityTypeId": 3}, headers=auth
            )
            if scan.status_code != 202:
                continue
            body = self.follow(session, auth, f"/api/scans/{scan.json()['id']}")
            groups = [g["entityIds"] for g in (body or {}).get("groups", [])]
            if person["merges"] and groups:
                merge = self.call(
                    session,
                    "start",
                    "POST",
                    "/api/merges",
                    json={"entityTypeId": 3, "groups": groups},
                    headers=auth,
                )
                if merge.status_code == 202:
                    self.follow(session, auth, f"/api/merges/{merge.json()['id']}")
            self.call(session, "jobs", "GET", "/api/jobs", headers=auth)


def main() -> None:
    with open(sys.argv[1]) as source:
        plan = json.load(source)
    users = Users(plan["url"], plan["seconds"])
    threads = [threading.Thread(target=users.user, args=(p,)) for p in plan["people"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    json.dump(users.seen, sys.stdout)


if __name__ == "__main__":
    main()
