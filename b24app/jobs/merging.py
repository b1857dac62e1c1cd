"""A merge job, exactly once per group whatever crashes: intent before the call, result after.

Each group's row goes pending -> calling (the intent, written before ``crm.entity.mergeBatch``
is sent) -> SUCCESS, CONFLICT or ERROR (the answer). Both writes are compare-and-swaps that
only the worker holding the job may make. A group found ``calling`` (its worker died, or the
call got no answer) may have been merged at the portal, so it is never simply called again:
once a call sent then can no longer be running, its records are read at the portal with the
asking user's token. The kept record there and every other one gone: SUCCESS, recorded.
All of them there: the call changed nothing (a CONFLICT or ERROR leaves them all, and so does
a call that never arrived), and the group is called again. Anything else: an ERROR naming
what is missing, for a person to check.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from b24app.bitrix.client import RestClient
from b24app.bitrix.errors import (
    AuthFailed,
    BitrixError,
    OperationTimeLimit,
    QueryLimitExceeded,
    TransientError,
)
from b24app.jobs.scan import Cancelled
from b24app.logs import carrying_context
from b24app.merge import MergeOutcome, check_group, checked_outcome, merge_group
from b24app.storage.db import Database, Job

log = logging.getLogger(__name__)

Beat = Callable[..., bool]
# Calls of one group that got no answer, each checked, before the job gives that group up.
MAX_UNANSWERED = 3


def _outcome_values(outcome: MergeOutcome) -> dict[str, Any]:
    return {
        "kept_id": outcome.kept_id,
        "merged_ids": outcome.merged_ids,
        "manual_merge_url": outcome.manual_merge_url,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
    }


def _unknown(detail: str) -> MergeOutcome:
    return MergeOutcome(
        "ERROR",
        None,
        [],
        error_code="outcome_unknown",
        error_message=(
            "Bitrix24 did not answer the merge of this group and the app could not check its "
            f"records afterwards ({detail}); check them in Bitrix24 before merging them again."
        ),
    )


class MergeJob:
    """The groups of one merge job, run by the worker that holds the job."""

    def __init__(
        self,
        db: Database,
        client: RestClient,
        portal_base: str,
        job: Job,
        worker: str,
        *,
        grace: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.client = client
        self.portal_base = portal_base
        self.job = job
        self.worker = worker
        self.grace = grace
        self.sleep = sleep

    def _record(self, position: int, outcome: MergeOutcome) -> None:
        if not self.db.record_merge_outcome(
            self.job.id, position, self.worker, outcome.status, **_outcome_values(outcome)
        ):
            raise Cancelled  # the job was taken from this worker: it writes nothing more

    def _settle_after_grace(self, called_at: float) -> None:
        # A call sent at called_at may still be running at the portal: look only once it
        # cannot be (the same time after which a silent worker's job is taken over).
        wait_for = called_at + self.grace - time.time()
        if wait_for > 0:
            self.sleep(wait_for)

    def resolve(
        self, position: int, ids: list[int], called_at: float, *, reset: bool = True
    ) -> bool:
        """Settle a group whose call may have run; True when its outcome is now recorded.

        False when the portal shows the group unchanged; it is then pending again, unless
        ``reset`` is off (the caller records why it gives up).
        """
        self._settle_after_grace(called_at)
        try:
            check = check_group(self.client, self.job.entity_type_id, ids)
        except (AuthFailed, QueryLimitExceeded, OperationTimeLimit):
            raise
        except BitrixError as exc:
            self._record(position, _unknown(exc.code or "error"))
            return True
        if check.untouched:
            if reset and not self.db.reset_merge_call(self.job.id, position, self.worker):
                raise Cancelled
            log.info("job %s group %s: unchanged at the portal", self.job.id, position)
            return False
        outcome = checked_outcome(check)
        log.info("job %s group %s: found %s at the portal", self.job.id, position, outcome.status)
        self._record(position, outcome)
        return True

    def merge_one(self, position: int, ids: list[int], *, again: bool = False) -> None:
        """Call mergeBatch for one group (again after a checked silence) and record the answer.

        ``again``: a check found the group unchanged after an earlier call went unanswered.
        """
        for attempt in range(1, MAX_UNANSWERED + 1):
            again = again or attempt > 1
            called_at = time.time()
            if not self.db.begin_merge_call(self.job.id, position, self.worker):
                raise Cancelled
            try:
                outcome = merge_group(self.client, self.portal_base, self.job.entity_type_id, ids)
            except (QueryLimitExceeded, OperationTimeLimit, AuthFailed):
                # Refused before it ran: the group is still pending.
                self.db.reset_merge_call(self.job.id, position, self.worker)
                raise
            except TransientError:
                last = attempt == MAX_UNANSWERED
                if self.resolve(position, ids, called_at, reset=not last):
                    return
                if last:
                    self._record(
                        position,
                        MergeOutcome(
                            "ERROR",
                            None,
                            [],
                            error_code="no_answer",
                            error_message=(
                                f"Bitrix24 did not answer {MAX_UNANSWERED} calls to merge this "
                                "group; its records are unchanged. Try again later."
                            ),
                        ),
                    )
                    return
                continue
            if again and outcome.status == "ERROR":
                # The earlier call may have reached the portal after the check (a slow
                # network, a worker taken over while alive): if it merged, that is the outcome.
                with contextlib.suppress(BitrixError):
                    check = check_group(self.client, self.job.entity_type_id, ids)
                    if check.merged:
                        outcome = checked_outcome(check)
            self._record(position, outcome)
            return


def run_merge(
    db: Database,
    client: RestClient,
    portal_base: str,
    job: Job,
    worker: str,
    beat: Beat,
    *,
    parallel: int,
    grace: float,
) -> None:
    """Merge the job's groups, several at a time while the pacer lets them go.

    The pacer, not this loop, decides how fast: it holds each call until the portal's bucket
    and crm.entity.mergeBatch's budget leave room. Groups a previous worker left ``calling``
    are settled first; new calls stop when the job is cancelled or taken, and calls in flight
    end and are recorded.
    """
    run = MergeJob(db, client, portal_base, job, worker, grace=grace)
    items = db.merge_items(job.id)
    done = sum(1 for item in items if item["status"] not in ("pending", "calling"))
    rechecked: set[int] = set()
    for item in items:
        if item["status"] == "calling":
            called_at = item["called_at"] or 0.0
            if run.resolve(item["position"], list(item["entity_ids"]), called_at):
                done += 1
            else:
                rechecked.add(item["position"])
            beat(progress_done=done)
    pending = [
        (item["position"], list(item["entity_ids"]))
        for item in db.merge_items(job.id)
        if item["status"] == "pending"
    ]
    failure: BaseException | None = None
    with ThreadPoolExecutor(parallel, thread_name_prefix="b24app-merge") as pool:
        running: set[Future[None]] = set()
        queue = list(reversed(pending))
        while failure is None:
            while len(running) < parallel and queue:
                if not beat(progress_done=done):
                    failure = Cancelled()
                    break
                position, ids = queue.pop()
                running.add(
                    pool.submit(
                        carrying_context(run.merge_one), position, ids, again=position in rechecked
                    )
                )
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


def settle_unchecked(db: Database, job_id: str, worker: str) -> None:
    """A merge job is failing: a group still ``calling`` could not be checked; say so."""
    for item in db.merge_items(job_id):
        if item["status"] == "calling":
            outcome = _unknown("the job stopped first")
            db.record_merge_outcome(
                job_id, item["position"], worker, outcome.status, **_outcome_values(outcome)
            )
