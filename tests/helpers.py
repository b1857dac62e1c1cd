"""A running stack for tests: the emulated portal and the app, both on real loopback HTTP."""

from __future__ import annotations

import io
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from b24app import app_context, create_app, logs
from b24app.devportal import DevPortal
from b24app.devportal.params import flatten_params
from tests.databases import database_url

ROOT = Path(__file__).resolve().parent.parent
SDK_FILE = ROOT / "node_modules/@bitrix24/b24jssdk/dist/umd/index.min.js"
SESSION_META = re.compile(r'<meta name="b24app-session" content="([^"]+)"')


class LazyWSGI:
    """Lets a server bind its port before the app (which needs its own URL) exists."""

    def __init__(self) -> None:
        self.app: Callable[..., Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


def serve(wsgi: Callable[..., Any]) -> BaseWSGIServer:
    """Serve a WSGI app on a free loopback port in a daemon thread."""
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


@dataclass
class Opened:
    """The answer to a frame POST to /app."""

    response: requests.Response
    token: str | None


@dataclass
class Stack:
    """The emulator plus the app, with shortcuts for what a portal and a UI do."""

    emu: DevPortal
    app: Flask
    url: str
    server: BaseWSGIServer
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def portal(self) -> Any:
        """The emulator's first portal."""
        return self.emu.portal

    @property
    def db(self) -> Any:
        """The app's database gateway."""
        return app_context(self.app).db

    def frame(self, path: str, fp: Any) -> requests.Response:
        """POST a frame payload the way the portal's browser form does."""
        return requests.post(f"{self.url}{path}", params=fp.query, data=fp.form, timeout=30)

    def install(
        self, user_id: int = 1, portal: Any = None, *, finish: bool = True
    ) -> requests.Response:
        """The admin opens the install wizard; its page calls installFinish when set-up worked.

        Without a browser the frame SDK cannot run, so ``finish`` plays its part: the portal
        gets ``setInstallFinish`` exactly when the page would send it.
        """
        portal = portal or self.portal
        post, frame = portal.open_frame(user_id, install=True)
        response = self.frame("/install", post)
        if finish and 'data-state="ok"' in response.text and "install.js" in response.text:
            portal.finish_install(frame.sid)
        return response

    def open(
        self,
        user_id: int = 1,
        placement: str = "DEFAULT",
        options: dict[str, Any] | None = None,
        portal: Any = None,
    ) -> Opened:
        """A user opens the app (or a placement) and gets a session token."""
        portal = portal or self.portal
        response = self.frame("/app", portal.frame_post(user_id, placement, options))
        match = SESSION_META.search(response.text)
        return Opened(response, match.group(1) if match else None)

    def api(
        self, method: str, path: str, token: str | None, json: Any = None, **kw: Any
    ) -> requests.Response:
        """Call the JSON API with a session token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(
            method, f"{self.url}/api{path}", headers=headers, json=json, timeout=30, **kw
        )

    def wait(self, kind: str, job_id: str, token: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll a job until it ends."""
        deadline = time.time() + timeout
        while True:
            body = self.api("GET", f"/{kind}/{job_id}", token).json()
            if body["status"] not in ("queued", "running"):
                return body
            if time.time() > deadline:
                raise AssertionError(f"{kind} {job_id} still {body['status']}: {body}")
            time.sleep(0.1)

    def scan(self, token: str, entity_type_id: int = 3, **extra: Any) -> dict[str, Any]:
        """Run a scan to its end."""
        response = self.api("POST", "/scans", token, {"entityTypeId": entity_type_id, **extra})
        assert response.status_code == 202, response.text
        return self.wait("scans", response.json()["id"], token)

    def merge(self, token: str, groups: list[list[int]], entity_type_id: int = 3) -> dict[str, Any]:
        """Run a merge to its end."""
        response = self.api(
            "POST", "/merges", token, {"entityTypeId": entity_type_id, "groups": groups}
        )
        assert response.status_code == 202, response.text
        return self.wait("merges", response.json()["id"], token)

    def close(self) -> None:
        """Stop both servers, the app's embedded queue consumer and its database connections."""
        from b24app.jobs.queue import stop_worker

        emulator = threading.Thread(target=self.emu.stop)  # its servers stop meanwhile
        emulator.start()
        self.server.shutdown()
        self.server.server_close()
        ctx = app_context(self.app)
        stop_worker(ctx)
        ctx.db.close()
        emulator.join()


def build_stack(
    tmp_path: Path, *, seed: bool = True, limits: bool = False, **overrides: Any
) -> Stack:
    """Start an emulator and the app wired to it, with a fresh database of its own."""
    emu = DevPortal(seed=seed, limits=limits).start()
    wsgi = LazyWSGI()
    server = serve(wsgi)
    url = f"http://127.0.0.1:{server.server_port}"
    client_id = f"local.{secrets.token_hex(7)}.{secrets.token_hex(4)}"
    client_secret = secrets.token_urlsafe(24)
    emu.register_app(client_id, client_secret, url)
    config: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "app_url": url,
        "secret_key": secrets.token_urlsafe(24),
        "database_url": database_url(tmp_path),
        "oauth_servers": (emu.oauth_url,),
        "allow_insecure": True,
        "redis_url": "",  # a REDIS_URL in the developer's environment is not the test's
    }
    if SDK_FILE.is_file():
        config["jssdk_file"] = str(SDK_FILE)
    config.update(overrides)
    app = create_app(config)
    wsgi.app = app
    return Stack(emu=emu, app=app, url=url, server=server)


def app_event_form(
    stack: Stack,
    event: str,
    user_id: int,
    application_token: str,
    data: dict[str, Any] | None = None,
) -> list[tuple[str, str]]:
    """An ONAPPINSTALL/ONAPPUPDATE form as a portal user could build it with their own tokens."""
    access, refresh = stack.emu.issue_tokens(stack.portal, user_id)
    return flatten_params(
        {
            "event": event,
            "data": data or {"VERSION": "9", "PREVIOUS_VERSION": "1", "LANGUAGE_ID": "en"},
            "ts": str(int(time.time())),
            "auth": {
                "domain": stack.portal.domain,
                "access_token": access.token,
                "refresh_token": refresh.token,
                "expires_in": "3600",
                "server_endpoint": stack.emu.oauth_url + "/rest/",
                "client_endpoint": stack.portal.url + "/rest/",
                "member_id": stack.portal.member_id,
                "application_token": application_token,
            },
        }
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until something becomes true (events are processed after the 200)."""
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def redis_test_url() -> str | None:
    """The Redis server the queue tests may use (its database is flushed), or None."""
    import os

    return os.environ.get("B24_TEST_REDIS_URL") or None


def worker_env(stack: Stack, **extra: str) -> dict[str, str]:
    """The environment of a `b24app worker` process serving the same app and database."""
    import sys

    settings = app_context(stack.app).settings
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "B24_CLIENT_ID": settings.client_id,
        "B24_CLIENT_SECRET": settings.client_secret,
        "B24_APP_URL": settings.app_url,
        "SECRET_KEY": settings.secret_key,
        "DATABASE_URL": settings.database_url,
        "B24_OAUTH_SERVERS": ",".join(settings.oauth_servers),
        "B24_ALLOW_INSECURE": "1",
        "B24_JOB_STALE_AFTER": str(settings.job_stale_after),
        "B24_QUEUE_POLL": str(settings.queue_poll),
        # the pacing plan every process applies to the portal's shared bucket
        "B24_RATE_BURST": str(settings.rate_burst),
        "B24_RATE_DRAIN": str(settings.rate_drain),
        "B24_METHOD_BUDGET": str(settings.method_budget),
        "B24_MERGE_PARALLEL": str(settings.merge_parallel),
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    """A `b24app worker` child process; its log goes to a file the test can show."""

    proc: Any
    log: Path

    @classmethod
    def start(cls, env: dict[str, str], cwd: Path, name: str = "worker") -> WorkerProcess:
        """Start one."""
        import subprocess
        import sys

        log = cwd / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "b24app"), "worker"],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return cls(proc, log)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or handed back."""
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, the way a process manager stops it; its exit code."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return int(self.proc.wait(timeout=40))
        except Exception:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise

    def output(self) -> str:
        """What it logged so far (the tail)."""
        return self.log.read_text(errors="replace")[-6000:]


@contextmanager
def app_log(log_format: str) -> Iterator[io.StringIO]:
    """The lines the app's own log handler writes (as in production) while inside."""
    logger = logging.getLogger("b24app")
    level = logger.level
    handler = logs.configure("text")
    formatter = handler.formatter
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    logs.configure(log_format, level=logging.DEBUG)
    try:
        yield buffer
    finally:
        handler.setStream(previous)
        handler.setFormatter(formatter)
        logger.setLevel(level)
