"""A Redis restart while a step runs: no finished step runs again, the worker rides it out.

The test restarts Redis, so it gets a private ``redis-server`` of its own on a
free port: the shared Redis, and the other tests running beside it under
xdist, never see the restart.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.integration import ledger
from tests.integration.conftest import REDIS_HOST, wait_for
from workflows_app.models import StepAttempt, StepRecord

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((REDIS_HOST, 0))
        return int(probe.getsockname()[1])


def _start_redis(port: int) -> None:
    subprocess.run(
        [
            *("redis-server", "--daemonize", "yes", "--bind", REDIS_HOST, "--port", str(port)),
            *("--save", "", "--appendonly", "no"),
        ],
        check=True,
        timeout=10,
    )
    wait_for(lambda: _up(port), timeout=10)


def _up(port: int) -> bool:
    try:
        return bool(redis.Redis(host=REDIS_HOST, port=port).ping())
    except redis.ConnectionError:
        return False


def _shutdown(port: int) -> None:
    subprocess.run(
        ["redis-cli", "-h", REDIS_HOST, "-p", str(port), "shutdown", "nosave"],
        check=False,
        capture_output=True,
        timeout=10,
    )


@pytest.fixture
def private_redis_port() -> Iterator[int]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: the Redis restart test starts its own")
    port = _free_port()
    _start_redis(port)
    yield port
    _shutdown(port)


@pytest.fixture
def redis_url(private_redis_port: int) -> str:
    """Overrides the shared per-xdist-worker Redis for the ``stack`` of this module."""
    return f"redis://{REDIS_HOST}:{private_redis_port}/0"


@pytest.fixture
def _publisher(redis_url: str) -> Iterator[None]:
    """This test process publishes to the private Redis too (overrides the shared one)."""
    from project.celery import app

    def fresh_pool() -> None:  # the producer pools are bound to the URL they were made with
        app.pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None

    before = app.conf.broker_url, app.conf.broker_transport_options
    fresh_pool()
    app.conf.broker_url = redis_url
    app.conf.broker_transport_options = {}
    yield
    fresh_pool()
    app.conf.broker_url, app.conf.broker_transport_options = before


def _attempts(instance, name):
    step = StepRecord.objects.get(instance=instance, name=name)
    return list(
        StepAttempt.objects.filter(step=step)
        .order_by("number")
        .values_list("number", "success", "error_name")
    )


def test_a_redis_restart_during_a_step_runs_no_finished_step_again(stack, private_redis_port):
    stack.start_worker("w1")
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", b_seconds=5)
    wait_for(lambda: ledger.entries(key, "B"), timeout=20)

    _shutdown(private_redis_port)  # a blip: the broker goes away mid-step
    time.sleep(3)
    _start_redis(private_redis_port)

    stack.wait_status(instance, "complete", timeout=60)
    assert [ledger.count(key, step) for step in ("A", "B", "C")] == [1, 1, 1]
    assert _attempts(instance, "B") == [(1, True, "")]

    # The worker rode out the blip: it is still there and takes new work.
    after, _ = stack.create("itest-one-step")
    stack.wait_status(after, "complete", timeout=30)
    assert stack.processes["w1"].poll() is None
    assert "Unrecoverable error" not in stack.log("w1")
