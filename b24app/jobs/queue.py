"""The task queue: huey, on Redis when ``REDIS_URL`` is set, else in the app's own database.

A message says only "run job X" (JSON, never pickle); the job's row is the source of truth.
Every consumer, the one embedded in a web process and each ``b24app worker``, also keeps the
queue honest: a running job whose worker stopped beating is queued again (a compare-and-swap on
its row, so once), and a queued job whose message was lost (Redis restarted, a process died
between the row and the message) is sent again once the queue has drained.
"""

from __future__ import annotations

import atexit
import datetime
import json
import logging
import os
import threading
import time
from typing import Any

from huey import Huey
from huey.consumer import Consumer
from huey.registry import Message
from huey.serializer import Serializer
from huey.storage import RedisStorage

from b24app.context import AppContext
from b24app.jobs.worker import JobRunner, mark_stale_installs
from b24app.storage.queue import DatabaseStorage

log = logging.getLogger(__name__)

QUEUE_NAME = "b24app"
HOUSEKEEPING_SECONDS = 60.0
# Fields of huey's Message this app's messages use; the others must be empty.
_PLAIN_FIELDS = ("id", "name", "retries", "retry_delay", "priority", "timeout", "retry_backoff")
_TIME_FIELDS = ("eta", "expires", "expires_resolved")
_NESTED_FIELDS = ("on_complete", "on_error", "chord_config")


class JsonMessages(Serializer):
    """Huey messages as JSON: a queue anyone can write to never unpickles what it holds."""

    def _serialize(self, data: Any) -> bytes:
        if isinstance(data, Message):
            if any(getattr(data, name) is not None for name in _NESTED_FIELDS):
                raise ValueError("pipelines, error handlers and chords are not used here")
            body: dict[str, Any] = {name: getattr(data, name) for name in _PLAIN_FIELDS}
            for name in _TIME_FIELDS:
                value = getattr(data, name)
                body[name] = value.isoformat() if isinstance(value, datetime.datetime) else value
            body["args"] = list(data.args or ())
            body["kwargs"] = dict(data.kwargs or {})
            return json.dumps({"message": body}, separators=(",", ":")).encode()
        return json.dumps({"value": data}, separators=(",", ":")).encode()

    def _deserialize(self, data: bytes) -> Any:
        decoded = json.loads(bytes(data).decode("utf-8"))
        if not isinstance(decoded, dict):
            raise ValueError("not a queue message")
        if "message" not in decoded:
            return decoded.get("value")
        body = decoded["message"]
        if not (
            isinstance(body, dict)
            and isinstance(body.get("id"), str)
            and isinstance(body.get("name"), str)
            and isinstance(body.get("args"), list)
            and isinstance(body.get("kwargs"), dict)
        ):
            raise ValueError("malformed queue message")
        fields: dict[str, Any] = {name: body.get(name) for name in _PLAIN_FIELDS}
        for name in _TIME_FIELDS:
            value = body.get(name)
            fields[name] = (
                datetime.datetime.fromisoformat(value) if isinstance(value, str) else None
            )
        return Message(args=tuple(body["args"]), kwargs=body["kwargs"], **fields)


class JobQueue:
    """The process's queue for one app: send "run job X", and run such messages."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        settings = ctx.settings
        options: dict[str, Any]
        if settings.redis_url:
            options = {"storage_class": RedisStorage, "url": settings.redis_url}
        else:
            options = {
                "storage_class": DatabaseStorage,
                "engine": ctx.db.engine,
                "reader": ctx.db.reader,
                "poll": settings.queue_poll,
            }
        self.huey = Huey(QUEUE_NAME, results=False, utc=True, serializer=JsonMessages(), **options)
        self.stopping = threading.Event()
        self.runner = JobRunner(ctx, stopping=self.stopping, requeue=self.enqueue)
        self._run_job = self.huey.task(name="run_job")(self._execute)

    @property
    def backend(self) -> str:
        """Where the messages live: ``redis`` or ``database``."""
        return "redis" if self.ctx.settings.redis_url else "database"

    def _execute(self, job_id: str) -> None:
        if not (isinstance(job_id, str) and 0 < len(job_id) <= 32 and job_id.isalnum()):
            log.warning("dropped a queue message naming no job")
        elif self.stopping.is_set():
            self.enqueue(job_id)  # taken while this consumer stops: leave it to the next one
        else:
            self.runner.run(job_id)

    def enqueue(self, job_id: str) -> None:
        """Send "run job X"."""
        self.huey.enqueue(self._run_job.s(job_id))

    def pending(self) -> int:
        """How many messages wait."""
        return int(self.huey.pending_count())

    def run_pending(self) -> int:
        """Run every waiting message in this thread, one after another; how many were taken."""
        taken = 0
        while self.pending():
            task = self.huey.dequeue()
            if task is None:
                break
            taken += 1
            self.huey.execute(task)
        return taken

    def reap(self) -> list[str]:
        """Queue again what lost its worker or its message; the job IDs sent."""
        db = self.ctx.db
        now = time.time()
        stale = self.ctx.settings.job_stale_after
        sent: list[str] = []
        for job_id in db.requeue_stale_jobs(stale_before=now - stale):
            log.warning("job %s: its worker stopped answering; resuming it from the queue", job_id)
            self.enqueue(job_id)
            sent.append(job_id)
        # Only an empty queue tells that a waiting job's message is gone (not merely behind).
        if self.pending() == 0:
            for job_id in db.lost_queued_jobs(older_than=now - stale):
                log.warning("job %s: its queue message was lost; sending it again", job_id)
                self.enqueue(job_id)
                sent.append(job_id)
        return sent

    def consumer(self, threads: int, *, embedded: bool = False) -> JobConsumer:
        """A consumer of this queue with ``threads`` jobs at once."""
        return JobConsumer(self, threads, embedded=embedded)


class JobConsumer(Consumer):
    """Huey's consumer plus the housekeeping every consumer of this app does.

    Embedded in a web process it sets no signal handlers (that is the web server's business);
    as ``b24app worker`` SIGTERM and SIGINT stop it gracefully: calls in flight end and are
    recorded, and its jobs go back to the queue for the next worker.
    """

    def __init__(self, queue: JobQueue, threads: int, *, embedded: bool) -> None:
        poll = queue.ctx.settings.queue_poll
        super().__init__(
            queue.huey,
            workers=threads,
            periodic=False,
            initial_delay=min(0.1, poll),
            backoff=1.5,
            max_delay=poll,
            worker_type="thread",
            check_worker_health=True,
            graceful_signal="TERM",
            shutdown_timeout=30,
        )
        self.queue = queue
        self.embedded = embedded
        self._housekeeper = threading.Thread(
            target=self._housekeeping, name="b24app-housekeeping", daemon=True
        )

    def start(self) -> None:
        """Start the worker threads, huey's scheduler and the housekeeping."""
        super().start()
        self._housekeeper.start()

    def _set_signal_handlers(self) -> None:
        if not self.embedded:
            super()._set_signal_handlers()

    def stop(self, graceful: bool = False) -> None:
        """Stop taking jobs; running ones stop after their calls in flight."""
        self.queue.stopping.set()
        storage = self.queue.huey.storage
        if isinstance(storage, DatabaseStorage):
            storage.wake_all()
        super().stop(graceful=graceful)

    def _housekeeping(self) -> None:
        interval = max(0.2, min(self.queue.ctx.settings.job_stale_after / 4, 15.0))
        next_installs = 0.0
        while not self.stop_flag.is_set():
            try:
                self.queue.reap()
                if time.time() >= next_installs:
                    next_installs = time.time() + HOUSEKEEPING_SECONDS
                    mark_stale_installs(self.queue.ctx)
            except Exception:  # housekeeping must outlive a database hiccup
                log.exception("queue housekeeping failed")
            self.stop_flag.wait(interval)


_queues: dict[int, JobQueue] = {}
_embedded: dict[int, JobConsumer] = {}
_guard = threading.Lock()
_pid = os.getpid()


def _this_process() -> None:
    """Forget what a parent process started (gunicorn forks after importing)."""
    global _pid
    if _pid != os.getpid():
        _pid = os.getpid()
        _queues.clear()
        _embedded.clear()


def job_queue(ctx: AppContext) -> JobQueue:
    """This process's queue for an app."""
    with _guard:
        _this_process()
        queue = _queues.get(id(ctx))
        if queue is None:
            queue = _queues[id(ctx)] = JobQueue(ctx)
        return queue


def ensure_worker(ctx: AppContext) -> JobConsumer:
    """The embedded consumer of this process (one job at a time), started on first use."""
    queue = job_queue(ctx)
    with _guard:
        consumer = _embedded.get(id(ctx))
        if consumer is None:
            consumer = _embedded[id(ctx)] = queue.consumer(1, embedded=True)
            consumer.start()
        return consumer


def stop_worker(ctx: AppContext, *, timeout: float = 10.0) -> None:
    """Stop this process's embedded consumer of an app, if one runs."""
    with _guard:
        consumer = _embedded.pop(id(ctx), None)
        _queues.pop(id(ctx), None)
    if consumer is not None:
        _stop_all([consumer], timeout)


def _stop_all(consumers: list[JobConsumer], timeout: float) -> None:
    for consumer in consumers:
        consumer.queue.stopping.set()
        storage = consumer.queue.huey.storage
        if isinstance(storage, DatabaseStorage):
            storage.wake_all()
        consumer.stop_flag.set()
    deadline = time.monotonic() + timeout
    for consumer in consumers:
        threads = [t for _, t in consumer.worker_threads] + [consumer.scheduler]
        threads.append(consumer._housekeeper)
        for thread in threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))


@atexit.register
def _stop_embedded() -> None:
    """A web process ending hands its running job back instead of leaving it to go stale."""
    with _guard:
        consumers = list(_embedded.values()) if _pid == os.getpid() else []
        _embedded.clear()
    _stop_all(consumers, 10.0)
