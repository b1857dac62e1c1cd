"""Running one job that a queue message names; the job's row decides whether and where it runs.

A message only says "run job X". The runner claims the job with a compare-and-swap on its row,
so of two workers holding messages for the same job (a repeated message, a resumed one) exactly
one runs it, and a stale message for a finished job does nothing. While the job runs a
keep-alive thread writes its heartbeat, so only a worker that really stopped (killed, frozen,
cut off from the database) is taken over, after ``B24_JOB_STALE_AFTER`` seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from b24app.bitrix.errors import (
    AuthFailed,
    BitrixError,
    OperationTimeLimit,
    QueryLimitExceeded,
)
from b24app.context import AppContext
from b24app.jobs.merging import run_merge, settle_unchecked
from b24app.jobs.scan import SCANNABLE, Cancelled, run_scan
from b24app.logs import job_context
from b24app.storage.db import Job

log = logging.getLogger(__name__)

AUTH_CODES = ("reauth_required", "app_credentials_invalid")
UNINSTALLED = "portal_uninstalled"
# The keep-alive writes this many times within B24_JOB_STALE_AFTER.
BEATS_PER_STALE = 5


def mark_stale_installs(ctx: AppContext) -> list[str]:
    """Portals whose set-up never completed within the TTL become need_reinstall (CASE-07)."""
    stale = ctx.db.mark_stale_installs(older_than=time.time() - ctx.settings.install_ttl)
    for member_id in stale:
        log.warning("portal %s never completed set-up: marked need_reinstall", member_id)
    return stale


def process_name() -> str:
    """This process as job rows name their worker: host and PID."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class KeepAlive:
    """Writes a claimed job's heartbeat in the background while the job runs."""

    def __init__(self, ctx: AppContext, job_id: str, worker: str) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.worker = worker
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="b24app-keepalive", daemon=True)

    def __enter__(self) -> KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        interval = self.ctx.settings.job_stale_after / BEATS_PER_STALE
        while not self._done.wait(interval):
            try:
                self.ctx.db.heartbeat(self.job_id, self.worker)
            except Exception:  # a missed beat is retried at the next interval
                log.exception("job %s: heartbeat failed", self.job_id)


class JobRunner:
    """Claims and runs the jobs a queue hands this process."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        stopping: threading.Event | None = None,
        requeue: Callable[[str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.stopping = stopping or threading.Event()
        self.requeue = requeue

    def run(self, job_id: str) -> bool:
        """Run the job if this worker wins its claim; False when it was not ours to run."""
        name = f"{process_name()}:{uuid.uuid4().hex[:8]}"
        stale_before = time.time() - self.ctx.settings.job_stale_after
        job = self.ctx.db.claim_job(job_id, name, stale_before=stale_before)
        if job is None:
            return False
        with job_context(job.id), KeepAlive(self.ctx, job.id, name):
            log.info("job %s: %s started, claimed by %s", job.id, job.kind, name)
            self._run(job, name)
            log.info("job %s: %s ended", job.id, job.kind)
        return True

    def _fail(self, job: Job, worker: str, code: str, message: str) -> None:
        portal = self.ctx.db.get_portal(portal_id=job.portal_id)
        if portal is None or portal.state == "uninstalled":
            # The portal revoked our tokens as it removed the app: say that, not "reauthorise".
            code, message = UNINSTALLED, "The app was removed from this Bitrix24 portal."
        if job.kind == "merge":
            settle_unchecked(self.ctx.db, job.id, worker)
        self.ctx.db.finish_job(job.id, worker, "failed", error_code=code, error_message=message)
        log.info("job %s failed: %s", job.id, code)

    def _run(self, job: Job, worker: str) -> None:
        db = self.ctx.db
        portal = db.get_portal(portal_id=job.portal_id)
        if portal is None or portal.state == "uninstalled":
            self._fail(job, worker, UNINSTALLED, "")
            return

        def beat(**values: Any) -> bool:
            alive = db.heartbeat(job.id, worker, **values)
            return alive and not self.stopping.is_set()

        client = self.ctx.rest(portal, job.user_id)
        try:
            if job.kind == "scan":
                if job.entity_type_id not in SCANNABLE:
                    raise BitrixError("unsupported_entity_type", "this type cannot be scanned yet")
                run_scan(
                    db,
                    client,
                    portal,
                    job,
                    beat,
                    parallel=self.ctx.settings.scan_parallel,
                    worker=worker,
                )
            else:
                run_merge(
                    db,
                    client,
                    portal.base_url,
                    job,
                    worker,
                    beat,
                    parallel=max(1, self.ctx.settings.merge_parallel),
                    grace=self.ctx.settings.job_stale_after,
                )
        except Cancelled:
            self._stopped(job, worker)
            return
        except AuthFailed as exc:
            self._fail(
                job,
                worker,
                exc.code if exc.code in AUTH_CODES else "auth_failed",
                "The Bitrix24 portal's administrator must reinstall the app, "
                "or an operator must fix the app's credentials."
                if exc.code == "app_credentials_invalid"
                else "Bitrix24 no longer accepts this user's authorisation; "
                "open the app again from Bitrix24.",
            )
            return
        except (QueryLimitExceeded, OperationTimeLimit) as exc:
            self._fail(
                job,
                worker,
                "rate_limited",
                f"Bitrix24 kept refusing calls because of its limits ({exc.code}).",
            )
            return
        except BitrixError as exc:
            self._fail(
                job,
                worker,
                exc.code or "bitrix_error",
                exc.description or "Bitrix24 answered with an error.",
            )
            return
        except Exception:
            log.exception("job %s failed", job.id)
            self._fail(
                job, worker, "internal_error", "The job failed unexpectedly; it has been logged."
            )
            return
        db.finish_job(job.id, worker, "done")
        log.info("job %s done", job.id)

    def _stopped(self, job: Job, worker: str) -> None:
        """The job stopped between calls: cancelled, taken over, or this worker is leaving."""
        current = self.ctx.db.get_job(job.id)
        if current is None or current.claimed_by != worker or current.status != "running":
            return  # taken over, or ended by an uninstall: not ours to record
        if current.cancel_requested:
            self.ctx.db.finish_job(job.id, worker, "cancelled")
            log.info("job %s cancelled", job.id)
        elif self.stopping.is_set() and self.ctx.db.release_job(job.id, worker):
            # Shutting down: hand the job to the next worker at once instead of after the
            # stale time. What was done stays recorded; the rest resumes there.
            log.info("job %s handed back to the queue (worker stopping)", job.id)
            if self.requeue is not None:
                self.requeue(job.id)
