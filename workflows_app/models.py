"""The single source of truth: accounts, workflows, instances and their journal.

Everything durable lives in these rows, and they are the queue: Redis only
ever carries doorbells ("there is due work"), so every status, timer
(``wake_at``), lease and buffered event below must be enough to rebuild the
whole state after any crash.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


def new_account_id() -> str:
    """A 32-hex id, the shape of Cloudflare account ids."""
    return secrets.token_hex(16)


# What every account id looks like (new_account_id's shape); the API checks ids against it.
ACCOUNT_ID_PATTERN = r"^[0-9a-f]{32}$"


class Account(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_account_id, editable=False)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # NULL means the plan named "free".
    plan = models.ForeignKey(
        "Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer"  # reads instances and the audit log
        OPERATOR = "operator"  # also pauses, resumes, terminates, restarts
        APPROVER = "approver"  # also answers wait_for_event prompts
        ADMIN = "admin"  # also manages tokens, members and billing

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="unique_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.account_id}"


class Workflow(models.Model):
    """A workflow registered in code, enabled for one account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=64)
    class_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    # {"success": seconds, "error": seconds}, within the plan's maximum; NULL = the plan's.
    default_retention = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="unique_workflow_name"),
        ]

    def __str__(self) -> str:
        return self.name


class InstanceStatus(models.TextChoices):
    QUEUED = "queued"  # created, not picked up yet
    RUNNING = "running"  # a worker is replaying run() or executing a step
    PAUSED = "paused"  # paused by a user; timers are frozen
    ERRORED = "errored"  # an uncaught error ended it (terminal)
    TERMINATED = "terminated"  # ended by a user (terminal)
    COMPLETE = "complete"  # run() returned (terminal)
    WAITING = "waiting"  # sleeping, waiting for an event, or for a retry delay
    WAITING_FOR_PAUSE = "waitingForPause"  # pause requested; finishing the running step


TERMINAL_STATUSES = frozenset(
    {InstanceStatus.ERRORED, InstanceStatus.TERMINATED, InstanceStatus.COMPLETE}
)
# Statuses in which the scheduler may claim an instance once ``wake_at`` is due.
RUNNABLE_STATUSES = frozenset(
    {InstanceStatus.QUEUED, InstanceStatus.RUNNING, InstanceStatus.WAITING}
)
# Every status word of Cloudflare's API: ours, and "rollingBack", which this engine never enters.
API_INSTANCE_STATUSES: tuple[str, ...] = (*InstanceStatus.values, "rollingBack")


class Instance(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="instances")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="instances")
    instance_id = models.CharField(max_length=100)
    status = models.CharField(
        max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.QUEUED
    )
    params = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)  # {"name", "message"}
    trigger_source = models.CharField(max_length=16, default="api")

    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    modified_at = models.DateTimeField()

    # Durable timer: the instance is runnable once wake_at <= now (NULL = not runnable).
    wake_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Lease with fencing: every journal write checks lease_token.
    # NULL, not "", means "no lease": the claim query tests IS NULL.
    lease_token = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every sent event so a finishing activation notices events that
    # arrived while it was running and does not sleep past them.
    event_seq = models.PositiveIntegerField(default=0)
    # Activations claimed since the last step made progress: bounds poison loops.
    delivery_count = models.PositiveIntegerField(default=0)
    # Lifetime step.do count, checked against WORKFLOWS_MAX_STEPS.
    step_count = models.PositiveIntegerField(default=0)
    # CPU spent replaying run() outside step bodies, in microseconds (step
    # bodies are metered per attempt). Integers, so meters sum exactly.
    replay_cpu_us = models.BigIntegerField(default=0)
    # Bytes of params, output and error; steps and events count their own.
    stored_bytes = models.BigIntegerField(default=0)
    # Retention removed this instance's state; the row stays as a tombstone.
    purged_at = models.DateTimeField(null=True, blank=True)
    # {"success": seconds, "error": seconds} asked for at creation; NULL = the workflow's.
    retention = models.JSONField(null=True, blank=True)
    # When the state may be purged; set once the instance reaches a terminal status.
    purge_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "instance_id"], name="unique_instance_id_per_workflow"
            ),
        ]
        indexes = [
            models.Index(
                fields=["wake_at"],
                name="instance_due_idx",
                condition=Q(wake_at__isnull=False),
            ),
            models.Index(
                fields=["purge_after"],
                name="instance_purge_idx",
                condition=Q(purge_after__isnull=False, purged_at__isnull=True),
            ),
            # The console's list orders (newest first) with and without filters.
            models.Index(fields=["account", "-created_at", "-id"], name="instance_recent_idx"),
            models.Index(fields=["account", "workflow", "-created_at"], name="instance_list_idx"),
            models.Index(
                fields=["account", "workflow", "status", "-created_at"],
                name="instance_wf_status_idx",
            ),
            models.Index(fields=["account", "status", "-created_at"], name="instance_status_idx"),
            # Id-prefix search (LIKE 'x%'); PostgreSQL needs the pattern opclass
            # unless the database collation is C. Other databases ignore it.
            models.Index(
                fields=["account", "instance_id"],
                name="instance_id_prefix_idx",
                opclasses=["", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id}:{self.instance_id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class StepType(models.TextChoices):
    DO = "do"  # step.do
    SLEEP = "sleep"  # step.sleep / step.sleep_until
    WAIT_FOR_EVENT = "waitForEvent"  # step.wait_for_event


class StepStatus(models.TextChoices):
    RUNNING = "running"  # an attempt is executing (or its worker died mid-attempt)
    RETRYING = "retrying"  # an attempt failed; the next one is due at wake_at
    WAITING = "waiting"  # a sleep or an event wait that has not finished yet
    SUCCEEDED = "succeeded"  # output (or the received event) is stored
    FAILED = "failed"  # retries exhausted, non-retryable, or wait timed out
    CANCELLED = "cancelled"  # a sleep or wait run() abandoned (a race's loser)


class StepRecord(models.Model):
    """One journal entry: the durable memory of a step, keyed like Cloudflare's cache."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="steps")
    type = models.CharField(max_length=16, choices=StepType.choices)
    name = models.CharField(max_length=256)
    count = models.PositiveIntegerField()  # 1-based occurrence of (type, name) in run()
    seq = models.PositiveIntegerField()  # order in which steps were first reached
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    config = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)  # {"name", "message", "module"}
    # Sleep end, event-wait timeout, or next retry time, depending on type/status.
    wake_at = models.DateTimeField(null=True, blank=True)
    # What the call asked for (sleep target, event type) so replay can detect drift.
    detail = models.JSONField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # Bytes of config, detail, output and every attempt's error (the journal).
    stored_bytes = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "type", "name", "count"], name="unique_step_key"
            ),
        ]
        indexes = [models.Index(fields=["instance", "seq"], name="step_order_idx")]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}-{self.count}"


class StepAttempt(models.Model):
    step = models.ForeignKey(StepRecord, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()  # 1-based
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    success = models.BooleanField(null=True)  # NULL while running (or lost with its worker)
    error_name = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_traceback = models.TextField(blank=True, default="")
    timed_out = models.BooleanField(default=False)
    cpu_ms = models.FloatField(default=0)
    wall_ms = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "number"], name="unique_attempt_number"),
        ]

    def __str__(self) -> str:
        return f"{self.step} attempt {self.number}"


class Event(models.Model):
    """An event sent to an instance; buffered until a wait_for_event of its type takes it.

    ``created_at`` is its arrival time, stamped by the database in the INSERT
    (``services.events``): a wait takes it only if it is not after the wait's
    deadline. ``for_step`` addresses the event to one waiting step (a console
    decision): only that wait takes it, ahead of any other buffered event.
    """

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=100)
    payload = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    consumed_by = models.OneToOneField(
        StepRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="event"
    )
    for_step = models.ForeignKey(
        StepRecord, null=True, blank=True, on_delete=models.CASCADE, related_name="answers"
    )
    stored_bytes = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["instance", "type", "id"], name="event_inbox_idx")]

    def __str__(self) -> str:
        return f"{self.type} event for instance {self.instance_id}"


class AuditEntry(models.Model):
    """Who did what to which instance, and why."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.CharField(max_length=200)  # "user:alice", "token:ab12…", "system"
    action = models.CharField(max_length=64)
    workflow_name = models.CharField(max_length=64, blank=True, default="")
    instance_id = models.CharField(max_length=100, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    detail = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["account", "-created_at"], name="audit_recent_idx")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.workflow_name}/{self.instance_id}"


class ApiToken(models.Model):
    """A bearer token for the REST API, scoped to one account.

    Only the SHA-256 of the secret is stored: the secret is shown once, at
    creation. ``prefix`` (the secret's first characters) identifies a token in
    lists and audit entries without revealing it.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 hex of the secret
    prefix = models.CharField(max_length=16)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name}, account {self.account_id})"

    @staticmethod
    def hash_of(secret: str) -> str:
        """The stored form of a secret: minting and authenticating both use this."""
        return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Decision(models.Model):
    """A human's answer to a pending wait_for_event (the approvals inbox).

    One per waiting step: the unique step makes the first decision win even
    when two people click at the same moment.
    """

    class Outcome(models.TextChoices):
        APPROVE = "approve"  # the waited event is sent with decision "approve"
        REJECT = "reject"  # the waited event is sent with decision "reject"

    step = models.OneToOneField(StepRecord, on_delete=models.CASCADE, related_name="decision")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    comment = models.TextField(blank=True, default="")
    decided_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.outcome} by {self.decided_by} on {self.step}"


class RateCounter(models.Model):
    """Requests counted per account, scope and fixed time window (the API's 429s).

    Scopes: ``create`` (instance creations per second, per account) and
    ``create:<workflow>`` (per workflow).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="rate_counters")
    scope = models.CharField(max_length=100)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "scope", "window_start"], name="unique_rate_window"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.scope} @ {self.window_start}: {self.count}"


class Plan(models.Model):
    """Limits, included amounts and prices; editable by a superuser in the admin.

    A NULL limit means "no limit". Money is Decimal, quantities are integers.
    """

    name = models.CharField(max_length=32, unique=True)
    # Limits, enforced where the work happens.
    cpu_ms_per_step_limit = models.PositiveIntegerField(null=True, blank=True)
    daily_invocations_limit = models.PositiveBigIntegerField(null=True, blank=True)
    storage_bytes_limit = models.PositiveBigIntegerField(null=True, blank=True)
    # Included each billing period (a calendar month).
    included_cpu_ms = models.PositiveBigIntegerField(default=0)
    included_invocations = models.PositiveBigIntegerField(default=0)
    included_storage_gb = models.DecimalField(max_digits=12, decimal_places=3, default=0)
    # Prices beyond the included amounts (USD).
    price_per_million_cpu_ms = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    price_per_million_invocations = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    price_per_gb_month = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    # Days finished instances keep their state, and the most a workflow may ask for.
    retention_days = models.PositiveIntegerField(default=3)
    max_retention_days = models.PositiveIntegerField(default=3)

    def __str__(self) -> str:
        return self.name


class UsageDaily(models.Model):
    """Usage counters per account, workflow and UTC day.

    Incremented in the same transaction as the journal write they meter, so a
    duplicate delivery or a crashed worker can never count twice. Each instance
    writes to one of a few shards so concurrent steps do not queue on one row;
    readers sum the shards.
    """

    SHARDS = 8

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField()
    shard = models.PositiveSmallIntegerField(default=0)
    invocations = models.BigIntegerField(default=0)  # instances created
    attempts = models.BigIntegerField(default=0)  # step attempts finished
    cpu_us = models.BigIntegerField(default=0)  # step attempts + replay, microseconds
    wall_us = models.BigIntegerField(default=0)  # step attempts, microseconds
    stored_bytes_delta = models.BigIntegerField(default=0)  # bytes added minus bytes removed

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "workflow", "day", "shard"], name="unique_usage_cell"
            ),
        ]
        indexes = [models.Index(fields=["account", "day"], name="usage_account_day_idx")]

    def __str__(self) -> str:
        return f"usage {self.account_id} {self.workflow_id} {self.day}"
