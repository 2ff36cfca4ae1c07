"""Benchmark the console's heaviest pages on PostgreSQL at scale.

    .venv/bin/python bench/console.py [--instances 1000000] [--steps 1000] [--samples 30]

Recreates a dedicated database (default ``wf_bench_console``), fills it with
set-based SQL (one account, three workflows, N instances spread over every
status, one instance with a 1,000-step journal), then times the views
in-process with Django's test client: the server time a browser would wait
for, without network. Prints a table of medians and p95s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import recreate_database  # noqa: E402  (needs ROOT on sys.path first)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/wf_bench_console"
    )
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--samples", type=int, default=30)
    return parser.parse_args()


def fill(instances: int, steps: int) -> tuple[str, str]:
    """Set-based inserts: a million rows in seconds, not an ORM loop."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from workflows_app.models import Account, Membership, Workflow

    account = Account.objects.create(name="Bench")
    user = get_user_model().objects.create_user("bench", password="bench")
    Membership.objects.create(account=account, user=user, role="admin")
    workflows = [
        Workflow.objects.create(account=account, name=name, class_name="bench")
        for name in ("order-processing", "code-review", "welcome-drip")
    ]
    statuses = ["complete"] * 6 + ["errored", "waiting", "running", "terminated", "paused"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflows_app_instance
              (account_id, workflow_id, instance_id, status, params, trigger_source,
               created_at, started_at, ended_at, modified_at, event_seq, delivery_count,
               step_count, replay_cpu_us, stored_bytes)
            SELECT %s, (ARRAY[%s, %s, %s])[1 + n %% 3], 'bench-' || n,
                   (%s::text[])[1 + n %% %s], '{"n": 1}'::jsonb, 'api',
                   now() - make_interval(secs => n), now() - make_interval(secs => n),
                   now() - make_interval(secs => n) + interval '2 seconds',
                   now() - make_interval(secs => n), 0, 0, 3, 500, 120
            FROM generate_series(1, %s) AS n
            """,
            [
                account.pk,
                *[w.pk for w in workflows],
                statuses,
                len(statuses),
                instances,
            ],
        )
        cursor.execute(
            """
            INSERT INTO workflows_app_instance
              (account_id, workflow_id, instance_id, status, params, trigger_source,
               created_at, started_at, modified_at, event_seq, delivery_count,
               step_count, replay_cpu_us, stored_bytes)
            VALUES (%s, %s, 'long-journal', 'running', '{}'::jsonb, 'api',
                    now(), now(), now(), 0, 0, %s, 0, 2)
            RETURNING id
            """,
            [account.pk, workflows[0].pk, steps],
        )
        long_pk = cursor.fetchone()[0]
        cursor.execute(
            """
            INSERT INTO workflows_app_steprecord
              (instance_id, type, name, count, seq, status, config, output, attempt_count,
               started_at, ended_at, stored_bytes)
            SELECT %s, 'do', 'step ' || n, 1, n, 'succeeded',
                   '{"retries": {"limit": 5, "delay": "10 seconds", "backoff": "exponential"},
                     "timeout": "10 minutes"}'::jsonb,
                   jsonb_build_object('n', n, 'text', repeat('x', 200)), 1,
                   now(), now() + interval '5 milliseconds', 300
            FROM generate_series(1, %s) AS n
            """,
            [long_pk, steps],
        )
        cursor.execute(
            """
            INSERT INTO workflows_app_stepattempt
              (step_id, number, started_at, ended_at, success, error_name, error_message,
               error_traceback, timed_out, cpu_ms, wall_ms)
            SELECT id, 1, started_at, ended_at, true, '', '', '', false, 0.3, 5
            FROM workflows_app_steprecord WHERE instance_id = %s
            """,
            [long_pk],
        )
        cursor.execute("ANALYZE")
    return account.pk, "long-journal"


def time_get(client, url: str, samples: int) -> list[float]:
    client.get(url)  # warm caches and the template loader
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return timings


def main() -> None:
    args = parse_args()
    recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    account_id, long_id = fill(args.instances, args.steps)
    print(f"filled {args.instances:,} instances in {time.perf_counter() - started:.1f} s")

    client = Client()
    client.login(username="bench", password="bench")
    base = f"/a/{account_id}/instances/"
    pages = [
        (f"instances list, first page ({args.instances:,} rows)", base, 150),
        ("instances list, status=errored", base + "?status=errored", 150),
        ("instances list, workflow + status", base + "?workflow=code-review&status=waiting", 150),
        ("instances list, id prefix search", base + "?q=bench-99999", 150),
        (
            f"instance detail, {args.steps:,} steps",
            f"/a/{account_id}/workflows/order-processing/instances/{long_id}/",
            200,
        ),
        ("overview", f"/a/{account_id}/", None),
    ]
    print(f"\n{'page':<48} {'median ms':>10} {'p95 ms':>8} {'target':>8}")
    for name, url, target in pages:
        timings = sorted(time_get(client, url, args.samples))
        p95 = timings[int(len(timings) * 0.95) - 1]
        goal = f"≤ {target}" if target else "-"
        print(f"{name:<48} {statistics.median(timings):>10.1f} {p95:>8.1f} {goal:>8}")


if __name__ == "__main__":
    main()
