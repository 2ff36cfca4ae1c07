"""The soak's verdict: invariants read from the database, the ledger and the broker.

Every check returns a row ``(name, value, expected, ok)`` and, when it breaks,
evidence (ledger lines, journal rows) for the report. Figures that are not
invariants (re-runs allowed by at-least-once, recovery times) have ``ok=None``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from soak import ledger
from soak.nemesis import Fault

TERMINAL = ("complete", "errored", "terminated")


@dataclass
class Row:
    name: str
    value: Any
    expected: str
    ok: bool | None  # None: a figure, not an invariant


@dataclass
class Verdict:
    rows: list[Row] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    recovery: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> list[Row]:
        return [row for row in self.rows if row.ok is False]

    def add(self, name: str, value: Any, expected: str, ok: bool | None) -> None:
        self.rows.append(Row(name, value, expected, ok))

    def prove(self, name: str, lines: list[str], limit: int = 12) -> None:
        if lines:
            self.evidence[name] = lines[:limit] + (
                [f"... and {len(lines) - limit} more"] if len(lines) > limit else []
            )


def _epoch(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def committed_successes(account: Any) -> dict[tuple[str, str], tuple[int, float]]:
    """(instance, step) -> (attempt, commit time) of each step's committed success.

    The commit time is PostgreSQL's commit timestamp of the attempt row's last
    write (``track_commit_timestamp`` is on in the soak's cluster), so a deferred
    success write counts from when it really committed, not from when the body ended.
    """
    from django.db import connection

    from workflows_app.models import Instance, StepAttempt, StepRecord

    sql = f"""
        SELECT i.instance_id, s.name, a.number,
               extract(epoch FROM pg_xact_commit_timestamp(a.xmin)),
               extract(epoch FROM a.ended_at)
        FROM {StepAttempt._meta.db_table} a
        JOIN {StepRecord._meta.db_table} s ON s.id = a.step_id
        JOIN {Instance._meta.db_table} i ON i.id = s.instance_id
        WHERE a.success AND i.account_id = %s AND s.type = 'do'
    """
    found: dict[tuple[str, str], tuple[int, float]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [account.pk])
        for instance, step, number, committed, ended in cursor.fetchall():
            when = float(committed if committed is not None else ended)
            found[(instance, step)] = (int(number), when)
    return found


def evaluate(
    *,
    account: Any,
    planned: list[Any],
    lines: list[ledger.Line],
    faults: list[Fault],
    deaths: list[tuple[str, int | None, float, str]],
    queue_peak: int | None,
    queue_samples: list[tuple[float, int, int]] | None = None,
    queue_left: int | None,
    lease_seconds: int,
    logs_dir: Any = None,
) -> Verdict:
    from tests.billing.journal import journal, meters
    from workflows_app.models import Decision, Event, Instance, StepRecord, StepType

    verdict = Verdict()
    by_id = {p.iid: p for p in planned}
    created = [p for p in planned if p.created]

    # --- instances -------------------------------------------------------------------
    instances = {
        row["instance_id"]: row
        for row in Instance.objects.filter(account=account).values(
            "pk", "instance_id", "status", "output", "error"
        )
    }
    statuses = Counter(row["status"] for row in instances.values())
    stuck = [row for row in instances.values() if row["status"] not in TERMINAL]
    not_complete = [row for row in instances.values() if row["status"] in ("errored", "terminated")]
    verdict.add("instances created", len(instances), f"{len(created)} planned", None)
    verdict.add(
        "instances completed",
        statuses["complete"],
        f"= created ({len(instances)})",
        statuses["complete"] == len(instances),
    )
    verdict.add("instances errored/terminated", len(not_complete), "0", not not_complete)
    verdict.prove(
        "instances errored/terminated",
        [f"{r['instance_id']} {r['status']} {r['error']}" for r in not_complete],
    )
    verdict.add("instances stuck (not finished after the drain)", len(stuck), "0", not stuck)
    verdict.prove("instances stuck (not finished after the drain)", _stuck_evidence(stuck))

    # --- step bodies entered after their success was committed -----------------------
    committed = committed_successes(account)
    after_commit: list[str] = []
    enters = [line for line in lines if line.what == "enter"]
    per_step: dict[tuple[str, str], list[ledger.Line]] = defaultdict(list)
    for line in lines:
        per_step[(line.instance, line.step)].append(line)
    for line in enters:
        success = committed.get((line.instance, line.step))
        if success is not None and line.t > success[1]:
            after_commit.append(
                f"{line}  <- entered {line.t - success[1]:.3f}s after attempt {success[0]}'s "
                f"success committed; all lines of the step: "
                + " | ".join(str(x) for x in per_step[(line.instance, line.step)])
            )
    verdict.add(
        "step bodies entered after their success was committed",
        len(after_commit),
        "0",
        not after_commit,
    )
    verdict.prove("step bodies entered after their success was committed", after_commit)
    # Bodies that ran to their end and yet ran again: their result was lost before it
    # committed (at-least-once allows it after a kill -9; a broker blip should not cause it).
    finished_again: list[str] = []
    for (step_owner, step), step_lines in per_step.items():
        p = by_id.get(step_owner)
        ordered = sorted(step_lines, key=lambda x: x.t)
        for i, line in enumerate(ordered):
            if line.what != "exit":
                continue
            if step == "A" and line.attempt == 1 and p is not None and p.params.get("flaky"):
                continue  # the deliberate failure of a flaky first attempt: a retry follows
            later = next((x for x in ordered[i + 1 :] if x.what == "enter"), None)
            if later is not None:
                finished_again.append(
                    f"{line} -> ran again {later.t - line.t:.1f}s later: {later}"
                    f"{_during(line.t, faults)}"
                )
    verdict.add(
        "finished bodies run again (result lost before commit)", len(finished_again), "figure", None
    )
    verdict.notes["finished bodies run again"] = finished_again[:20]
    reruns = len(enters) - len({(line.instance, line.step) for line in enters})
    verdict.add("step bodies run again (interrupted, at-least-once)", reruns, "figure", None)
    verdict.add("step bodies entered in total", len(enters), "figure", None)

    # --- events ---------------------------------------------------------------------
    skew_windows = [
        (f.t_inject - 1, (f.t_heal or f.t_inject) + f.skew_seconds + 1, f.skew_seconds + 1)
        for f in faults
        if f.kind == "skew-worker" and not f.skipped
    ]
    gates = {
        row["instance__instance_id"]: row
        for row in StepRecord.objects.filter(
            instance__account=account, type=StepType.WAIT_FOR_EVENT, name="gate"
        ).values("instance__instance_id", "started_at", "detail", "status")
    }
    events_by_instance: dict[str, list[Any]] = defaultdict(list)
    for row in Event.objects.filter(instance__account=account).values(
        "instance__instance_id", "type", "payload", "created_at", "consumed_by_id"
    ):
        events_by_instance[row["instance__instance_id"]].append(row)
    tokens_stored = {
        (row["payload"] or {}).get("token")
        for rows in events_by_instance.values()
        for row in rows
        if isinstance(row["payload"], dict)
    }
    lost: list[str] = []
    late_taken: list[str] = []
    sent_ok = 0
    judged = unjudged = 0
    for p in created:
        for sent in p.sent:
            if sent["ok"]:
                sent_ok += 1
                if sent["token"] not in tokens_stored:
                    lost.append(f"{p.iid}: event {sent} acknowledged but not stored")
        if p.workflow == "soak-approval":
            continue
        instance = instances.get(p.iid)
        gate = gates.get(p.iid)
        if instance is None or instance["status"] != "complete" or gate is None:
            continue
        timeout = float((gate["detail"] or {}).get("timeout_ms", 0)) / 1000
        started = gate["started_at"].timestamp()
        margin = 0.5
        for start, end, wide in skew_windows:
            if start <= started <= end:
                margin = max(margin, wide)
        deadline = started + timeout
        got = (instance["output"] or {}).get("gate")
        got_token = ((got or {}).get("payload") or {}).get("token") if got else None
        go_events = [e for e in events_by_instance[p.iid] if e["type"] == "go"]
        before = [e for e in go_events if e["created_at"].timestamp() < deadline - margin]
        after = {
            (e["payload"] or {}).get("token"): e
            for e in go_events
            if e["created_at"].timestamp() > deadline + margin
        }
        if not before and not after and go_events:
            unjudged += 1
            continue
        judged += 1
        if before and got is None:
            first = min(before, key=lambda e: e["created_at"])
            lost.append(
                f"{p.iid}: event {first['payload']} arrived "
                f"{deadline - first['created_at'].timestamp():.2f}s before the wait's deadline "
                f"but the wait timed out (status {gate['status']})"
            )
        if got_token in after:
            e = after[got_token]
            late_taken.append(
                f"{p.iid}: the wait took event {e['payload']} created "
                f"{e['created_at'].timestamp() - deadline:.2f}s after its deadline"
            )
    verdict.add("events acknowledged", sent_ok, "figure", None)
    verdict.add("events lost", len(lost), "0", not lost)
    verdict.prove("events lost", lost)
    verdict.add("events taken after the wait's deadline", len(late_taken), "0", not late_taken)
    verdict.prove("events taken after the wait's deadline", late_taken)
    verdict.add(
        "event waits judged / too close to the deadline", f"{judged} / {unjudged}", "figure", None
    )

    # --- decisions ------------------------------------------------------------------
    differ: list[str] = []
    decisions = list(
        Decision.objects.filter(step__instance__account=account).values(
            "outcome", "decided_by", "step__instance__instance_id"
        )
    )
    for decision in decisions:
        iid = decision["step__instance__instance_id"]
        instance = instances.get(iid)
        if instance is None or instance["status"] != "complete":
            continue  # counted as stuck / errored above
        output = instance["output"] or {}
        if (output.get("decision"), output.get("by")) != (
            decision["outcome"],
            decision["decided_by"],
        ):
            competed = by_id[iid].compete if iid in by_id else False
            differ.append(
                f"{iid}: Decision {decision['outcome']} by {decision['decided_by']}, the workflow "
                f"received {output}{' (an API event of the same type was sent just before)' if competed else ''}"  # noqa: E501
            )
    refused = Counter(
        f"{p.decided['result']}: {_no_times(p.decided['message'])}"
        + (" (an API event of that type was sent just before)" if p.compete else "")
        for p in created
        if p.decided and p.decided["result"] != "ok"
    )
    verdict.notes["decisions refused"] = [f"{n} x {why}" for why, n in refused.most_common()]
    verdict.add("decisions recorded", len(decisions), "figure", None)
    verdict.add(
        "decisions refused (already decided / not waiting)", sum(refused.values()), "figure", None
    )
    verdict.add(
        "decisions that differ from what the workflow received", len(differ), "0", not differ
    )
    verdict.prove("decisions that differ from what the workflow received", differ)

    # --- meters -----------------------------------------------------------------------
    stored, recomputed = meters(account), journal(account)
    diff = {k: (stored[k], recomputed[k]) for k in stored if stored[k] != recomputed.get(k)}
    verdict.add("meters equal to the journal", "yes" if not diff else "no", "yes", not diff)
    verdict.prove(
        "meters equal to the journal",
        [f"{k}: meters {a} vs journal {b}" for k, (a, b) in diff.items()],
    )

    # --- broker -----------------------------------------------------------------------
    verdict.add("queued messages left over", queue_left, "figure", None)
    verdict.add("queue peak (messages)", queue_peak, "figure", None)
    slack = 5
    queue_samples = queue_samples or []
    excess = [(t, n, u) for t, n, u in queue_samples if n > u + slack]
    worst = max(queue_samples, key=lambda s: s[1] - s[2], default=None)
    verdict.add(
        "samples with more queued messages than unfinished instances",
        f"{len(excess)} of {len(queue_samples)}",
        f"0 (slack {slack})",
        not excess,
    )
    verdict.prove(
        "samples with more queued messages than unfinished instances",
        [
            f"{dt.datetime.fromtimestamp(t, tz=dt.UTC):%H:%M:%S}: {n} queued, {u} unfinished"
            + (" (the worst)" if (t, n, u) == worst else "")
            for t, n, u in sorted(excess, key=lambda s: s[2] - s[1])
        ],
    )

    # --- processes ------------------------------------------------------------------------
    verdict.add("processes that exited by themselves", len(deaths), "0", not deaths)
    verdict.prove(
        "processes that exited by themselves",
        [f"{tag} exit code {code} (faults: {after})" for tag, code, _, after in deaths],
        limit=20,
    )

    # --- fencing: late writes of stalled / partitioned / skewed workers ------------------
    if logs_dir is not None:
        fenced = {
            path.stem: path.read_text(errors="replace").count("lease lost")
            for path in sorted(logs_dir.glob("w*.log"))
        }
        verdict.add(
            "activations fenced ('lease lost' in worker logs)", sum(fenced.values()), "figure", None
        )
        verdict.notes["activations fenced per worker process"] = [
            f"{tag}: {n}" for tag, n in fenced.items() if n
        ]

    # --- recovery ---------------------------------------------------------------------------
    verdict.recovery = recovery(faults, lines, committed)
    never = [r for r in verdict.recovery if r["takeover_s"] == "never"]
    verdict.add("interrupted bodies never taken over", len(never), "0", not never)
    verdict.prove("interrupted bodies never taken over", [str(r) for r in never])
    return verdict


def _during(t: float, faults: list[Fault]) -> str:
    """Which fault was in progress (or had just been healed, within 10 s) at ``t``."""
    for fault in reversed(faults):  # the latest fault that started before t
        if not fault.skipped and fault.t_inject - 1 <= t <= (fault.t_heal or fault.t_inject) + 10:
            return f"  [during/after {fault.kind} on {fault.target}]"
    return ""


def _no_times(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?( UTC)?", "<time>", text)


def _stuck_evidence(stuck: list[Any]) -> list[str]:
    from workflows_app.models import StepRecord

    out = []
    for row in stuck[:12]:
        steps = list(
            StepRecord.objects.filter(instance_id=row["pk"])
            .order_by("seq")
            .values_list("name", "status", "attempt_count")
        )
        out.append(f"{row['instance_id']} {row['status']} steps={steps}")
    return out


def recovery(
    faults: list[Fault],
    lines: list[ledger.Line],
    committed: dict[tuple[str, str], tuple[int, float]],
) -> list[dict[str, Any]]:
    """Per fault: how long until the bodies it interrupted ran again (or their result
    committed), and how long after the heal the first body started anywhere."""
    enters = sorted((line for line in lines if line.what == "enter"), key=lambda x: x.t)
    rows: list[dict[str, Any]] = []
    for fault in faults:
        if fault.skipped:
            rows.append({"fault": fault.kind, "target": fault.target, "skipped": fault.skipped})
            continue
        waits: list[float] = []
        never = 0
        for instance, step, _attempt in fault.in_flight:
            nxt = next(
                (
                    x.t
                    for x in enters
                    if x.instance == instance and x.step == step and x.t > fault.t_inject
                ),
                None,
            )
            done = committed.get((instance, step))
            candidates = [t for t in (nxt, done[1] if done else None) if t and t > fault.t_inject]
            if candidates:
                waits.append(min(candidates) - fault.t_inject)
            else:
                never += 1
        heal = fault.t_heal or fault.t_inject
        first = next((x.t for x in enters if x.t > heal), None)
        rows.append(
            {
                "fault": fault.kind,
                "target": fault.target,
                "at": dt.datetime.fromtimestamp(fault.t_inject, tz=dt.UTC).strftime("%H:%M:%S"),
                "held_s": round(heal - fault.t_inject, 1),
                "in_flight": len(fault.in_flight),
                "takeover_s": ("never" if never else (round(max(waits), 1) if waits else "-")),
                "first_body_after_heal_s": round(first - heal, 1) if first else "no work left",
                "note": fault.note,
            }
        )
    return rows
