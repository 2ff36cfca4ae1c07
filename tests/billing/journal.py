"""The meters as stored, and as recomputed from the journal: equal after anything."""

from __future__ import annotations

from django.db.models import Sum

from workflows_app.engine.journal import store
from workflows_app.engine.journal.meters import us
from workflows_app.models import Event, Instance, StepAttempt, StepRecord, UsageDaily


def meters(account) -> dict[str, int]:
    totals = UsageDaily.objects.filter(account=account).aggregate(
        invocations=Sum("invocations"),
        attempts=Sum("attempts"),
        cpu_us=Sum("cpu_us"),
        wall_us=Sum("wall_us"),
        stored=Sum("stored_bytes_delta"),
    )
    return {key: value or 0 for key, value in totals.items()}


def journal(account) -> dict[str, int]:
    """What the meters must equal, recomputed from the journal itself.

    An attempt lost with its worker (kill -9) never reported its CPU and is
    not billed: it is closed as WorkerLostError by the next attempt.
    """
    attempts = StepAttempt.objects.filter(
        step__instance__account=account, ended_at__isnull=False
    ).exclude(error_name=store.WORKER_LOST["name"])
    instances = Instance.objects.filter(account=account)
    stored = sum(
        (model.objects.filter(**lookup).aggregate(n=Sum("stored_bytes"))["n"] or 0)
        for model, lookup in (
            (Instance, {"account": account}),
            (StepRecord, {"instance__account": account}),
            (Event, {"instance__account": account}),
        )
    )
    return {
        "invocations": instances.count(),
        "attempts": attempts.count(),
        "cpu_us": sum(us(a.cpu_ms) for a in attempts)
        + (instances.aggregate(n=Sum("replay_cpu_us"))["n"] or 0),
        "wall_us": sum(us(a.wall_ms) for a in attempts),
        "stored": stored,
    }
