"""The job worker: claims queued jobs from the database and runs them, one at a time per thread.

Every process of the app may run one (gunicorn starts several); a job is claimed by exactly
one of them through a compare-and-swap on its row, and its state lives only in the database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from b24app.bitrix.errors import (
    AuthFailed,
    BitrixError,
    OperationTimeLimit,
    QueryLimitExceeded,
)
from b24app.context import AppContext
from b24app.jobs.scan import SCANNABLE, Cancelled, run_scan
from b24app.logs import carrying_context, job_context
from b24app.merge import merge_group
from b24app.storage.db import Job

log = logging.getLogger(__name__)

# A running job whose worker has not reported for this long is taken over by another.
STALE_AFTER = 120.0
POLL_SECONDS = 1.0
HOUSEKEEPING_SECONDS = 60.0
AUTH_CODES = ("reauth_required", "app_credentials_invalid")


def mark_stale_installs(ctx: AppContext) -> list[str]:
    """Portals whose set-up never completed within the TTL become need_reinstall (CASE-07)."""
    stale = ctx.db.mark_stale_installs(older_than=time.time() - ctx.settings.install_ttl)
    for member_id in stale:
        log.warning("portal %s never completed set-up: marked need_reinstall", member_id)
    return stale


class Worker:
    """A daemon thread that runs queued jobs until the process ends."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pid = os.getpid()
        self._next_housekeeping = 0.0

    def start(self) -> None:
        """Start the thread (once per process)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="b24app-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end after its current job."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def _housekeeping(self) -> None:
        if time.time() >= self._next_housekeeping:
            self._next_housekeeping = time.time() + HOUSEKEEPING_SECONDS
            mark_stale_installs(self.ctx)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._housekeeping()
                worked = self.run_once()
            except Exception:  # the loop must outlive any single failure
                log.exception("worker loop failed")
                worked = False
            if not worked:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()

    def run_once(self) -> bool:
        """Claim and run one job; False when none was waiting."""
        stale_before = time.time() - STALE_AFTER
        for job_id in self.ctx.db.queued_job_ids(stale_before=stale_before):
            job = self.ctx.db.claim_job(job_id, self.name, stale_before=stale_before)
            if job is not None:
                self.run(job)
                return True
        return False

    def run(self, job: Job) -> None:
        """Run a claimed job to its end, recording the outcome (its log lines name it)."""
        with job_context(job.id):
            log.info("job %s: %s started", job.id, job.kind)
            self._run(job)
            log.info("job %s: %s ended", job.id, job.kind)

    def _run(self, job: Job) -> None:
        db = self.ctx.db
        portal = db.get_portal(portal_id=job.portal_id)
        if portal is None or portal.state == "uninstalled":
            db.finish_job(
                job.id,
                self.name,
                "failed",
                error_code="portal_uninstalled",
                error_message="The app was removed from this Bitrix24 portal.",
            )
            return

        def beat(**values: Any) -> bool:
            return db.heartbeat(job.id, self.name, **values)

        client = self.ctx.rest(portal, job.user_id)
        try:
            if job.kind == "scan":
                if job.entity_type_id not in SCANNABLE:
                    raise BitrixError("unsupported_entity_type", "this type cannot be scanned yet")
                run_scan(db, client, portal, job, beat)
            else:
                self._run_merge(job, client, portal.base_url, beat)
        except Cancelled:
            current = db.get_job(job.id)
            if current is not None and current.status == "running":
                db.finish_job(job.id, self.name, "cancelled")
            return
        except AuthFailed as exc:
            db.finish_job(
                job.id,
                self.name,
                "failed",
                error_code=exc.code if exc.code in AUTH_CODES else "auth_failed",
                error_message="The Bitrix24 portal's administrator must reinstall the app, "
                "or an operator must fix the app's credentials."
                if exc.code == "app_credentials_invalid"
                else "Bitrix24 no longer accepts this user's authorisation; "
                "open the app again from Bitrix24.",
            )
            return
        except (QueryLimitExceeded, OperationTimeLimit) as exc:
            db.finish_job(
                job.id,
                self.name,
                "failed",
                error_code="rate_limited",
                error_message=f"Bitrix24 kept refusing calls because of its limits ({exc.code}).",
            )
            return
        except BitrixError as exc:
            db.finish_job(
                job.id,
                self.name,
                "failed",
                error_code=exc.code or "bitrix_error",
                error_message=exc.description or "Bitrix24 answered with an error.",
            )
            return
        except Exception:
            log.exception("job %s failed", job.id)
            db.finish_job(
                job.id,
                self.name,
                "failed",
                error_code="internal_error",
                error_message="The job failed unexpectedly; it has been logged.",
            )
            return
        db.finish_job(job.id, self.name, "done")

    def _run_merge(self, job: Job, client: Any, portal_base: str, beat: Any) -> None:
        """Merge the job's pending groups, several at a time while the pacer lets them go.

        The pacer, not this loop, decides how fast: it holds each call until the portal's
        bucket and crm.entity.mergeBatch's budget leave room, so with the budget used up the
        calls slow to its sustained rate.
        """
        db = self.ctx.db
        items = db.merge_items(job.id)
        done = sum(1 for item in items if item["status"] not in ("pending", "calling"))
        pending: list[dict[str, Any]] = []
        for item in items:
            if item["status"] == "calling":
                # We may have died mid-call: the merge may have happened. Never call twice.
                db.set_merge_item(
                    job.id,
                    item["position"],
                    status="ERROR",
                    error_code="interrupted",
                    error_message="The app stopped while merging this group; check the records "
                    "in Bitrix24 before merging them again.",
                    finished_at=time.time(),
                )
                done += 1
            elif item["status"] == "pending":
                pending.append(item)

        def merge_one(item: dict[str, Any]) -> None:
            position = item["position"]
            db.set_merge_item(job.id, position, status="calling")
            try:
                outcome = merge_group(client, portal_base, job.entity_type_id, item["entity_ids"])
            except (QueryLimitExceeded, OperationTimeLimit, AuthFailed):
                # The call was refused before it ran: the group is still pending.
                db.set_merge_item(job.id, position, status="pending")
                raise
            db.set_merge_item(
                job.id,
                position,
                status=outcome.status,
                kept_id=outcome.kept_id,
                merged_ids=outcome.merged_ids,
                manual_merge_url=outcome.manual_merge_url,
                error_code=outcome.error_code,
                error_message=outcome.error_message,
                finished_at=time.time(),
            )

        parallel = max(1, self.ctx.settings.merge_parallel)
        failure: BaseException | None = None
        with ThreadPoolExecutor(parallel, thread_name_prefix="b24app-merge") as pool:
            running: set[Future[None]] = set()
            queue = list(reversed(pending))
            while failure is None:
                while len(running) < parallel and queue:
                    if not beat(progress_done=done):
                        failure = Cancelled()
                        break
                    running.add(pool.submit(carrying_context(merge_one), queue.pop()))
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    error = future.exception()
                    if error is None:
                        done += 1
                    elif failure is None:
                        failure = error
            for future in running:  # let the calls in flight end and record their outcome
                if future.exception() is None:
                    done += 1
        beat(progress_done=done)
        if failure is not None:
            raise failure


_workers: dict[int, Worker] = {}
_guard = threading.Lock()


def ensure_worker(ctx: AppContext) -> Worker:
    """The worker of this process, started on first use (and again after a fork)."""
    with _guard:
        worker = _workers.get(id(ctx))
        if worker is None or worker.pid != os.getpid():
            worker = Worker(ctx)
            _workers[id(ctx)] = worker
            worker.start()
        return worker


def stop_worker(ctx: AppContext) -> None:
    """Stop this process's worker for ``ctx``, if one was started (tests, shutdown)."""
    with _guard:
        worker = _workers.pop(id(ctx), None)
    if worker is not None and worker.pid == os.getpid():
        worker.stop()
