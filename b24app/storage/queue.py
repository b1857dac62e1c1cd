"""A huey storage kept in the app's own database, through the app's SQLAlchemy engines.

With no ``REDIS_URL`` the task queue lives here, in whatever database ``DATABASE_URL`` names
(SQLite or PostgreSQL), so every process sharing that database shares one queue and a single
machine needs no other server. Only portable SQLAlchemy Core is used. A message is taken by
deleting its row: the delete that removes it (``rowcount == 1``) wins, so two consumers never
take the same message; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps them from queueing on
one row (SQLite serialises writers and ignores the clause).
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from huey.constants import EmptyData
from huey.storage import BaseStorage
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from b24app.storage.schema import queue_counters, queue_kv, queue_schedule, queue_tasks

# How many times dequeue() tries again after another consumer took the row it chose.
DEQUEUE_TRIES = 5


def _key(key: str | bytes) -> str:
    return key.decode("utf-8") if isinstance(key, bytes) else str(key)


class DatabaseStorage(BaseStorage):
    """Huey's storage interface over four tables of the app's schema (``b24_queue_*``).

    ``dequeue`` waits up to ``poll`` seconds for a message: at once when this process queued
    it, at the next look when another process did.
    """

    blocking = True
    priority = True

    def __init__(
        self,
        name: str = "huey",
        *,
        engine: Engine,
        reader: Engine | None = None,
        poll: float = 1.0,
        **_ignored: Any,
    ) -> None:
        super().__init__(name)
        self.engine = engine
        self.reader = reader or engine
        self.poll = poll
        self._arrived = threading.Condition()

    # -- the queue -----------------------------------------------------------------------

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        """Add a message."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(queue_tasks).values(
                    queue=self.name, data=bytes(data), priority=float(priority or 0)
                )
            )
        with self._arrived:
            self._arrived.notify_all()

    def _first_id(self) -> int | None:
        with self.reader.connect() as conn:
            return conn.execute(
                sa.select(queue_tasks.c.id)
                .where(queue_tasks.c.queue == self.name)
                .order_by(queue_tasks.c.priority.desc(), queue_tasks.c.id)
                .limit(1)
            ).scalar()

    def _take(self) -> bytes | None:
        # A plain read first: an idle poll never takes SQLite's write lock.
        for _ in range(DEQUEUE_TRIES):
            first = self._first_id()
            if first is None:
                return None
            with self.engine.begin() as conn:
                data = conn.execute(
                    sa.select(queue_tasks.c.data)
                    .where(queue_tasks.c.id == first)
                    .with_for_update(skip_locked=True)
                ).scalar()
                if data is None:
                    continue  # another consumer has it
                taken = conn.execute(sa.delete(queue_tasks).where(queue_tasks.c.id == first))
                if taken.rowcount == 1:
                    return bytes(data)
        return None

    def dequeue(self) -> bytes | None:
        """Take the next message, waiting up to ``poll`` seconds for one."""
        data = self._take()
        if data is not None:
            return data
        with self._arrived:
            self._arrived.wait(self.poll)
        return self._take()

    def wake_all(self) -> None:
        """End every wait in dequeue() of this process now (the consumer is stopping)."""
        with self._arrived:
            self._arrived.notify_all()

    def queue_size(self) -> int:
        """How many messages wait."""
        with self.reader.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(queue_tasks)
                .where(queue_tasks.c.queue == self.name)
            ).scalar()
        return int(count or 0)

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        """The waiting messages in the order they will be taken."""
        query = (
            sa.select(queue_tasks.c.data)
            .where(queue_tasks.c.queue == self.name)
            .order_by(queue_tasks.c.priority.desc(), queue_tasks.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.reader.connect() as conn:
            return [bytes(row[0]) for row in conn.execute(query)]

    def flush_queue(self) -> None:
        """Drop every waiting message."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(queue_tasks).where(queue_tasks.c.queue == self.name))

    # -- delayed messages ----------------------------------------------------------------

    def add_to_schedule(self, data: bytes, ts: datetime.datetime) -> None:
        """Keep a message until ``ts``."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(queue_schedule).values(
                    queue=self.name, data=bytes(data), run_at=ts.timestamp()
                )
            )

    def read_schedule(self, ts: datetime.datetime) -> list[bytes]:
        """Take the messages due by ``ts``."""
        due = sa.and_(
            queue_schedule.c.queue == self.name, queue_schedule.c.run_at <= ts.timestamp()
        )
        with self.reader.connect() as conn:
            if conn.execute(sa.select(queue_schedule.c.id).where(due).limit(1)).first() is None:
                return []  # huey asks every second: keep that a plain read
        taken: list[bytes] = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(queue_schedule.c.id, queue_schedule.c.data)
                .where(due)
                .order_by(queue_schedule.c.run_at, queue_schedule.c.id)
                .with_for_update(skip_locked=True)
            ).all()
            for row_id, data in rows:
                gone = conn.execute(sa.delete(queue_schedule).where(queue_schedule.c.id == row_id))
                if gone.rowcount == 1:
                    taken.append(bytes(data))
        return taken

    def schedule_size(self) -> int:
        """How many delayed messages wait."""
        with self.reader.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(queue_schedule)
                .where(queue_schedule.c.queue == self.name)
            ).scalar()
        return int(count or 0)

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        """The delayed messages, soonest first."""
        query = (
            sa.select(queue_schedule.c.data)
            .where(queue_schedule.c.queue == self.name)
            .order_by(queue_schedule.c.run_at, queue_schedule.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.reader.connect() as conn:
            return [bytes(row[0]) for row in conn.execute(query)]

    def flush_schedule(self) -> None:
        """Drop every delayed message."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(queue_schedule).where(queue_schedule.c.queue == self.name))

    # -- key/value data (revocations, locks, results) ------------------------------------

    def _kv(self, key: str | bytes) -> Any:
        return sa.and_(queue_kv.c.queue == self.name, queue_kv.c.key == _key(key))

    def put_data(self, key: str | bytes, value: bytes, is_result: bool = False) -> None:
        """Store a value, replacing any."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(queue_kv).where(self._kv(key)).values(value=bytes(value)))
            if done.rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(queue_kv).values(
                            queue=self.name, key=_key(key), value=bytes(value)
                        )
                    )
            except IntegrityError:  # written meanwhile by another process: ours is newer
                conn.execute(sa.update(queue_kv).where(self._kv(key)).values(value=bytes(value)))

    def peek_data(self, key: str | bytes) -> Any:
        """The value at ``key``, or huey's EmptyData."""
        with self.reader.connect() as conn:
            value = conn.execute(sa.select(queue_kv.c.value).where(self._kv(key))).scalar()
        return EmptyData if value is None else bytes(value)

    def peek_many(self, keys: Iterable[str | bytes]) -> dict[str, bytes]:
        """The values present among ``keys``."""
        wanted = [_key(k) for k in keys]
        if not wanted:
            return {}
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(queue_kv.c.key, queue_kv.c.value).where(
                    queue_kv.c.queue == self.name, queue_kv.c.key.in_(wanted)
                )
            ).all()
        return {row[0]: bytes(row[1]) for row in rows}

    def pop_data(self, key: str | bytes) -> Any:
        """Take the value at ``key`` (whoever deletes the row gets it)."""
        with self.reader.connect() as conn:
            if conn.execute(sa.select(queue_kv.c.key).where(self._kv(key))).first() is None:
                return EmptyData  # huey pops a revocation key after every task: keep it a read
        with self.engine.begin() as conn:
            value = conn.execute(sa.select(queue_kv.c.value).where(self._kv(key))).scalar()
            if value is None:
                return EmptyData
            gone = conn.execute(sa.delete(queue_kv).where(self._kv(key)))
        return bytes(value) if gone.rowcount == 1 else EmptyData

    def has_data_for_key(self, key: str | bytes) -> bool:
        """Whether ``key`` holds a value."""
        with self.reader.connect() as conn:
            return conn.execute(sa.select(queue_kv.c.key).where(self._kv(key))).first() is not None

    def put_if_empty(self, key: str | bytes, value: bytes, ttl: float | None = None) -> bool:
        """Store a value only where there is none (huey's locks)."""
        if ttl is not None:
            raise NotImplementedError("this storage keeps no expiry times")
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(queue_kv).values(queue=self.name, key=_key(key), value=bytes(value))
                )
        except IntegrityError:
            return False
        return True

    def result_store_size(self) -> int:
        """How many values are stored."""
        with self.reader.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(queue_kv)
                .where(queue_kv.c.queue == self.name)
            ).scalar()
        return int(count or 0)

    def result_items(self) -> dict[str, bytes]:
        """Every stored value."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(queue_kv.c.key, queue_kv.c.value).where(queue_kv.c.queue == self.name)
            ).all()
        return {row[0]: bytes(row[1]) for row in rows}

    def flush_results(self) -> None:
        """Drop every stored value."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(queue_kv).where(queue_kv.c.queue == self.name))

    # -- counters ------------------------------------------------------------------------

    def _counter(self, key: str | bytes) -> Any:
        return sa.and_(queue_counters.c.queue == self.name, queue_counters.c.key == _key(key))

    def incr(self, key: str | bytes, amount: int = 1) -> int:
        """Add to a counter (0 when new) and answer its new value."""
        while True:
            with self.engine.begin() as conn:
                done = conn.execute(
                    sa.update(queue_counters)
                    .where(self._counter(key))
                    .values(value=queue_counters.c.value + amount)
                )
                if not done.rowcount:
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                sa.insert(queue_counters).values(
                                    queue=self.name, key=_key(key), value=amount
                                )
                            )
                    except IntegrityError:
                        continue  # created meanwhile: add to that one
                value = conn.execute(
                    sa.select(queue_counters.c.value).where(self._counter(key))
                ).scalar()
                return int(value or 0)

    def delete_counter(self, key: str | bytes) -> None:
        """Drop a counter."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(queue_counters).where(self._counter(key)))

    def flush_counters(self) -> None:
        """Drop every counter."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(queue_counters).where(queue_counters.c.queue == self.name))
