"""The embedded default broker (``filesystem://``, ``workflows_app/broker.py``) through real kombu.

kombu's own filesystem transport hands a consumer a message file that is
still empty or half written and raises ``JSONDecodeError`` from ``_get``,
which stops a Celery worker for good (celery/kombu#1551). These tests put
such files in the queue folder next to real messages and read the queue the
way a worker does.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import virtual

import project.celery  # noqa: F401 - maps filesystem:// to our transport
from workflows_app import broker

QUEUE = "workflows"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The transport remembers declared bindings per process; each test has
    # its own folders (a deployment has one), so it starts with none.
    monkeypatch.setattr(broker.Transport, "global_state", virtual.BrokerState())
    (tmp_path / "queue").mkdir()
    (tmp_path / "control").mkdir()
    return tmp_path


def _connection(folder: Path) -> Connection:
    return Connection(
        "filesystem://",
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.01,
        },
    )


def _publish(connection: Connection, body: Any) -> None:
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with connection.Producer() as producer:
        producer.publish(body, exchange=queue.exchange, routing_key=QUEUE, declare=[queue])


def _receive(connection: Connection, *, timeout: float = 5.0) -> list[Any]:
    """Everything the queue hands a consumer until it is empty (as a worker polls it)."""
    got: list[Any] = []

    def take(body: Any, message: Any) -> None:
        got.append(body)
        message.ack()

    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with connection.Consumer(queue, callbacks=[take]) as c:
        c.consume()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                connection.drain_events(timeout=0.2)
            except TimeoutError:
                if got:
                    break
    for body in got:
        assert body is not None
    return got


def _stale(path: Path) -> None:
    """Make a file look as if its writer gave up long ago."""
    old = time.time() - broker.INCOMPLETE_GRACE_SECONDS - 60
    os.utime(path, (old, old))


def test_filesystem_urls_use_the_transport_without_the_race(folder: Path) -> None:
    with _connection(folder) as connection:
        assert connection.transport_cls == "filesystem"
        assert isinstance(connection.transport, broker.Transport)


def test_an_empty_message_file_does_not_stop_the_consumer(folder: Path) -> None:
    # What a consumer finds when it lists the folder between a kombu writer's
    # open() and write(): a zero-byte *.msg file ahead of real messages.
    with _connection(folder) as connection:
        _publish(connection, {"n": 1})
        empty = folder / "queue" / f"0_{'0' * 32}.{QUEUE}.msg"
        empty.touch()
        _stale(empty)
        _publish(connection, {"n": 2})

        # Both arrive (their order is not promised: they are doorbells).
        assert sorted(_receive(connection), key=lambda m: m["n"]) == [{"n": 1}, {"n": 2}]
    assert not empty.exists()  # dropped (a doorbell only), after the grace period


def test_a_half_written_file_is_left_for_later_and_read_once_complete(folder: Path) -> None:
    with _connection(folder) as connection:
        partial = folder / "queue" / f"0_{'1' * 32}.{QUEUE}.msg"
        partial.write_bytes(b'{"body": "eyJu')  # a writer still at work
        _publish(connection, {"n": 1})

        assert _receive(connection) == [{"n": 1}]
        assert partial.exists()  # put back, not lost

        # The writer finishes: the same file is now a complete message.
        with _connection(folder) as writer:
            _publish(writer, {"n": 2})
        complete = next(
            p for p in (folder / "queue").iterdir() if p.name.endswith(".msg") and p != partial
        )
        partial.write_bytes(complete.read_bytes())
        complete.unlink()
        assert _receive(connection) == [{"n": 2}]
    assert not partial.exists()


def test_a_writer_never_shows_an_incomplete_file(folder: Path) -> None:
    # Every *.msg file a reader can list is complete: written under a hidden
    # name first, then renamed into place.
    stop = threading.Event()
    seen_incomplete: list[str] = []

    def watch() -> None:
        queue = folder / "queue"
        while not stop.is_set():
            for name in os.listdir(queue):
                if name.endswith(".msg"):
                    try:
                        data = (queue / name).read_bytes()
                    except FileNotFoundError:
                        continue
                    if not data.endswith(b"}"):
                        seen_incomplete.append(name)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with _connection(folder) as connection:
            for n in range(200):
                _publish(connection, {"n": n, "pad": "x" * 20000})
    finally:
        stop.set()
        watcher.join()
    assert seen_incomplete == []
    assert not [p for p in (folder / "queue").iterdir() if p.name.endswith(".tmp")]
    with _connection(folder) as connection:
        assert sorted(body["n"] for body in _receive(connection)) == list(range(200))


def test_concurrent_consumers_get_each_message_exactly_once(folder: Path) -> None:
    with _connection(folder) as connection:
        for n in range(100):
            _publish(connection, {"n": n})
    results: list[list[Any]] = [[], [], []]

    def consume(index: int) -> None:
        with _connection(folder) as connection:
            results[index] = _receive(connection, timeout=3)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    received = sorted(body["n"] for got in results for body in got)
    assert received == list(range(100))


def test_a_message_claimed_by_a_consumer_that_died_goes_back(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _connection(folder) as connection:
        _publish(connection, {"n": 1})
    # A consumer claimed it (renamed it into .claimed/) and died before reading it.
    (folder / "queue" / broker.CLAIMED_FOLDER).mkdir()
    [message] = [p for p in (folder / "queue").iterdir() if p.name.endswith(".msg")]
    message.rename(folder / "queue" / broker.CLAIMED_FOLDER / message.name)
    monkeypatch.setattr(broker, "ORPHAN_SECONDS", 0.0)  # "long ago", without waiting a minute

    with _connection(folder) as connection:
        assert _receive(connection) == [{"n": 1}]
