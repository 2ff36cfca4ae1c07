"""Benchmark the distributed engine: PostgreSQL + Redis + real worker processes.

Run from the repository root (``make bench`` calls this):

    .venv/bin/python bench/run.py [--samples 50] [--throughput 500]

It recreates a dedicated database (``--database-url``, default ``wf_bench`` on
the local PostgreSQL), uses a dedicated Redis database (``--broker-url``,
default db 12), starts one ``workflows_worker`` (prefork, 2 processes) and one
``workflows_scheduler``, and prints a table. Latencies come from the engine's
own timestamps in the database, so the script's polling does not inflate them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = [
    "bench-one-step",
    "bench-ten-steps",
    "bench-waits-for-event",
    "bench-sleeps-one-second",
    "bench-sleeps-until",
    "bench-long-journal",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/wf_bench")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--samples", type=int, default=50, help="samples per latency metric")
    parser.add_argument("--throughput", type=int, default=500, help="1-step instances to drain")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--herd", type=int, default=10_000, help="instances sleeping until one instant (0: skip)"
    )
    parser.add_argument("--logs", default=str(ROOT / "bench" / "results"))
    parser.add_argument(
        "--peers",
        metavar="DIR",
        help="peers' results (../shared/peers/run_all.sh writes $PEERS_OUT/results): "
        "print each goal's ratio and whether it is met",
    )
    return parser.parse_args()


def recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@contextlib.contextmanager
def processes(args: argparse.Namespace) -> Iterator[None]:
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    commands = {
        "worker": ["workflows_worker", "--concurrency", str(args.concurrency)],
        "scheduler": ["workflows_scheduler"],
    }
    try:
        for name, command in commands.items():
            with open(logs / f"{name}.log", "wb") as out:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "manage.py", *command],
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 60
        while "ready." not in (logs / "worker.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start; see {logs / 'worker.log'}")
            time.sleep(0.1)
        yield
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 120, interval: float = 0.005
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out: is the worker running? see bench/results/*.log")
        time.sleep(interval)


def ms(start: Any, end: Any) -> float:
    """Milliseconds between two timestamps the engine wrote."""
    return float((end - start).total_seconds() * 1000)


def summary(name: str, values: list[float], note: str = "") -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "metric": name,
        "n": len(values),
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
        "note": note,
    }


def bench_insert_floor(url: str, samples: int) -> dict[str, Any]:
    import psycopg

    timings = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, v int)")
        for index in range(samples * 4):
            started = time.perf_counter()
            conn.execute("INSERT INTO bench_floor (v) VALUES (%s)", [index])
            timings.append((time.perf_counter() - started) * 1000)
    return summary("INSERT ... COMMIT floor", timings, "one autocommit INSERT, psycopg")


def bench_herd(count: int, workflow: Any) -> dict[str, Any]:
    """``count`` instances sleeping until the same instant: each wakes exactly once."""
    from django.db.models import Count

    from workflows_app import services
    from workflows_app.engine import clock
    from workflows_app.models import Instance, StepRecord

    # Far enough ahead for every instance to be created and reach its sleep.
    at = clock.now() + dt.timedelta(seconds=max(60, count / 40))
    at_ms = int(at.timestamp() * 1000)
    pks: list[int] = []
    for offset in range(0, count, 100):
        batch = services.instance_create_batch(
            workflow=workflow,
            items=[{"params": {"at": at_ms}} for _ in range(min(100, count - offset))],
        )
        pks += [i.pk for i in batch]
    wait_until(
        lambda: Instance.objects.filter(pk__in=pks, status="complete").count() == len(pks),
        timeout=count / 5 + 600,
        interval=1.0,
    )
    naps = StepRecord.objects.filter(instance_id__in=pks, name="herd")
    after_attempts = (
        StepRecord.objects.filter(instance_id__in=pks, name="after")
        .values("attempt_count")
        .annotate(n=Count("pk"))
    )
    once = {row["attempt_count"]: row["n"] for row in after_attempts} == {1: len(pks)}
    lateness = sorted(ms(n.wake_at, n.ended_at) for n in naps)
    row = summary(
        f"{count} sleeping until one instant",
        lateness,
        f"p99 {lateness[int(len(lateness) * 0.99) - 1]:.0f} ms; "
        f"each woke once: {'yes' if once and naps.count() == len(pks) else 'NO'}",
    )
    return row


def bench_replay(workflow: Any) -> list[dict[str, Any]]:
    """Time of one replay activation against the length of the journal (in-process)."""
    from django.test.utils import override_settings

    from workflows_app import services
    from workflows_app.engine import clock, runner
    from workflows_app.models import Instance

    rows = []
    with override_settings(WORKFLOWS_DISPATCHER="workflows_app.engine.inline.InlineDispatcher"):
        for steps in (10, 100, 1000):
            instance = services.instance_create(workflow=workflow, params={"n": steps})
            runner.advance(instance.pk)  # first run: every step executes, then it parks
            timings = []
            for _ in range(5):
                Instance.objects.filter(pk=instance.pk).update(wake_at=clock.now())
                started = time.perf_counter()
                runner.activate(instance.pk)  # replays the whole journal, parks again
                timings.append((time.perf_counter() - started) * 1000)
            row = summary(
                f"replay, {steps}-step journal",
                timings,
                f"{statistics.median(timings) * 1000 / steps:.0f} us per journaled step",
            )
            rows.append(row)
    return rows


def main() -> None:
    args = parse_args()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "WORKFLOWS_DISPATCHER": "workflows_app.tasks.CeleryDispatcher",
            "WORKFLOW_MODULES": "bench.workflows",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    recreate_database(args.database_url)

    import django
    import redis

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(args.broker_url).flushdb()

    from workflows_app import services
    from workflows_app.billing.plans import plan_named
    from workflows_app.models import Account, Event, Instance, StepRecord

    account = Account.objects.create(name="bench", plan=plan_named("paid"))
    workflows = {n: services.workflow_enable(account=account, name=n) for n in WORKFLOWS}

    def run_one(workflow: str) -> Instance:
        instance = services.instance_create(workflow=workflows[workflow])
        wait_until(lambda: Instance.objects.filter(pk=instance.pk, status="complete").exists())
        return Instance.objects.get(pk=instance.pk)

    rows = [bench_insert_floor(args.database_url, args.samples)]
    with processes(args):
        for _ in range(5):  # warm up the pool processes' connections
            run_one("bench-one-step")

        one = [run_one("bench-one-step") for _ in range(args.samples)]
        rows.append(
            summary(
                "1-step create -> complete",
                [ms(i.created_at, i.ended_at) for i in one],
                "created_at to ended_at, sequential",
            )
        )
        ten = [run_one("bench-ten-steps") for _ in range(max(args.samples // 5, 5))]
        rows.append(
            summary(
                "10-step instance, per step",
                [ms(i.started_at, i.ended_at) / 10 for i in ten],
                "(ended_at - started_at) / 10, no-op bodies",
            )
        )

        resume = []
        for _ in range(args.samples):
            instance = services.instance_create(workflow=workflows["bench-waits-for-event"])
            waiting = StepRecord.objects.filter(instance_id=instance.pk, name="go")
            wait_until(waiting.exists)
            wait_until(Instance.objects.filter(pk=instance.pk, status="waiting").exists)
            event = services.event_send(instance=instance, event_type="go", payload=1)
            wait_until(Instance.objects.filter(pk=instance.pk, status="complete").exists)
            step = StepRecord.objects.get(instance_id=instance.pk, name="go")
            resume.append(ms(Event.objects.get(pk=event.pk).created_at, step.ended_at))
        rows.append(summary("send_event -> resume", resume, "event row to wait step ended"))

        alone = [run_one("bench-sleeps-one-second") for _ in range(min(args.samples, 10))]
        naps = StepRecord.objects.filter(instance__in=alone, name="nap")
        rows.append(
            summary(
                "1 s sleep lateness, one at a time",
                [ms(n.wake_at, n.ended_at) for n in naps],
                "sleep step ended minus its wake_at",
            )
        )

        sleepers = services.instance_create_batch(
            workflow=workflows["bench-sleeps-one-second"],
            items=[{} for _ in range(min(args.samples, 100))],
        )
        pks = [s.pk for s in sleepers]
        wait_until(
            lambda: Instance.objects.filter(pk__in=pks, status="complete").count() == len(pks),
            interval=0.05,
        )
        naps = StepRecord.objects.filter(instance_id__in=pks, name="nap")
        rows.append(
            summary(
                "1 s sleep lateness, burst",
                [ms(n.wake_at, n.ended_at) for n in naps],
                f"{len(pks)} waking at once (queueing on the workers)",
            )
        )

        started = time.perf_counter()
        created: list[int] = []
        for offset in range(0, args.throughput, 100):
            batch = services.instance_create_batch(
                workflow=workflows["bench-one-step"],
                items=[{} for _ in range(min(100, args.throughput - offset))],
            )
            created += [i.pk for i in batch]
        wait_until(
            lambda: (
                Instance.objects.filter(pk__in=created, status="complete").count() == len(created)
            ),
            timeout=600,
            interval=0.1,
        )
        elapsed = time.perf_counter() - started

        if args.herd:
            rows.append(bench_herd(args.herd, workflows["bench-sleeps-until"]))

    rows += bench_replay(workflows["bench-long-journal"])

    print()
    print(
        f"PostgreSQL + Redis, 1 worker x {args.concurrency} prefork processes + 1 scheduler, "
        f"{os.cpu_count()} CPUs"
    )
    header = f"{'metric':34} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}  note"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['metric']:34} {row['n']:>5} {row['p50']:>9.1f} {row['p95']:>9.1f} "
            f"{row['max']:>9.1f}  {row['note']}"
        )
    print(
        f"{'throughput, 1-step instances':34} {len(created):>5} "
        f"{len(created) / elapsed:>9.1f} instances/s (create in batches of 100 -> all complete)"
    )
    if args.peers:
        print_peer_ratios(args.peers, rows, len(created) / elapsed)


def print_peer_ratios(directory: str, rows: list[dict[str, Any]], throughput: float) -> None:
    import peers

    by_name = {row["metric"]: row for row in rows}

    def figure(metric: str, field: str) -> float | None:
        row = by_name.get(metric)
        return None if row is None else float(row[field])

    figures = {
        "per_step_ms": figure("10-step instance, per step", "p50"),
        "one_step_ms": figure("1-step create -> complete", "p50"),
        "resume_ms": figure("send_event -> resume", "p50"),
        "sleep_p50_ms": figure("1 s sleep lateness, one at a time", "p50"),
        "sleep_max_ms": figure("1 s sleep lateness, one at a time", "max"),
        "burst_p50_ms": figure("1 s sleep lateness, burst", "p50"),
        "burst_max_ms": figure("1 s sleep lateness, burst", "max"),
        "throughput": throughput,
    }
    print()
    print(f"Beside the peers in {directory} (medians of their runs; same machine)")
    known = {name: value for name, value in figures.items() if value is not None}
    for line in peers.table(known, peers.load(directory)):
        print(line)


if __name__ == "__main__":
    main()
