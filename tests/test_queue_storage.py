"""The huey storage over the app's own database (b24app.storage.queue)."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path

from b24app.storage.db import Database
from b24app.storage.queue import DatabaseStorage


def test_database_storage_hands_each_message_to_exactly_one_consumer(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'q.sqlite3'}")
    db.create_tables()
    producer = DatabaseStorage("t", engine=db.engine, reader=db.reader, poll=0.05)
    for n in range(300):
        producer.enqueue(str(n).encode())
    assert producer.queue_size() == 300
    assert producer.enqueued_items(2) == [b"0", b"1"]  # first in, first out
    # Four "processes" (their own engines on the same file), two threads each.
    consumers = []
    for _ in range(4):
        other = Database(f"sqlite:///{tmp_path / 'q.sqlite3'}")
        consumers.append(DatabaseStorage("t", engine=other.engine, reader=other.reader, poll=0.05))
    taken: list[bytes] = []
    lock = threading.Lock()

    def drain(storage: DatabaseStorage) -> None:
        while True:
            data = storage.dequeue()
            if data is None:
                return
            with lock:
                taken.append(data)

    threads = [threading.Thread(target=drain, args=(c,)) for c in consumers for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(int(d) for d in taken) == list(range(300))
    assert producer.queue_size() == 0
    # priorities, then the key/value data, locks and counters huey keeps
    producer.enqueue(b"low")
    producer.enqueue(b"high", priority=5)
    assert producer.dequeue() == b"high"
    producer.flush_queue()
    producer.put_data("k", b"1")
    producer.put_data("k", b"2")
    assert producer.peek_data("k") == b"2" and producer.peek_many(["k", "x"]) == {"k": b"2"}
    assert producer.put_if_empty("lock", b"1") and not producer.put_if_empty("lock", b"1")
    assert producer.pop_data("k") == b"2" and not producer.has_data_for_key("k")
    assert producer.incr("c") == 1 and producer.incr("c", 4) == 5
    soon = datetime.datetime.now() + datetime.timedelta(seconds=30)
    producer.add_to_schedule(b"later", soon)
    assert producer.read_schedule(datetime.datetime.now()) == []
    assert producer.read_schedule(soon) == [b"later"] and producer.schedule_size() == 0
