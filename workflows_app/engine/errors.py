"""Every exception of the app, in three sections.

1. Public: the ``WorkflowError`` tree that workflow authors, API clients and
   the CLI meet. Each error has a stable ``code`` (the REST API maps it to a
   status) so clients can branch on it without parsing messages.
2. Internal: plain exceptions passed between the app's own layers.
3. Private: control-flow signals of an activation. They derive from
   ``BaseException`` so that ``except Exception`` in workflow code cannot
   swallow them; user code should never catch or raise them.

The REST API's own ``ApiError`` (an HTTP status and nothing else) lives in
``api/errors.py``.
"""

from __future__ import annotations

from typing import Any

# --- 1. Public: the errors users meet ---------------------------------------


class WorkflowError(Exception):
    """Base class of every error the engine raises on purpose. Do not raise it directly."""

    code = "workflow_error"

    @property
    def name(self) -> str:
        return type(self).__name__


class NonRetryableError(WorkflowError):
    """Raise inside a step to fail it at once: exactly one attempt, no retries.

    Matched by class (subclasses count too), never by name. The error reaches
    ``run()``, which may catch it and carry on.
    """

    code = "non_retryable"


class WorkflowTimeoutError(WorkflowError):
    """A step attempt exceeded its timeout, or a wait_for_event timed out."""

    code = "timeout"


class InvalidStepError(WorkflowError, ValueError):
    """A step call was malformed: bad name, bad config, bad duration, a past sleep_until."""

    code = "invalid_step"


class StepOutputError(NonRetryableError):
    """A step returned a value that cannot be persisted (not JSON, or over 1 MiB)."""

    code = "step_output_invalid"


class StepLimitExceededError(WorkflowError):
    """The instance reached its lifetime limit of step.do calls."""

    code = "step_limit_exceeded"


class CpuLimitExceededError(WorkflowError):
    """A step attempt used more CPU time than the account's plan allows per step.

    Measured when the attempt ends; the attempt fails and is retried per its policy.
    """

    code = "cpu_limit_exceeded"


class QuotaExceededError(WorkflowError):
    """The account's plan refuses more work now (daily invocations, storage)."""

    code = "quota.exceeded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NondeterminismError(WorkflowError):
    """The journal no longer matches what run() does; replaying would return wrong results."""

    code = "nondeterminism"


class StepError(WorkflowError):
    """A failed step whose original exception class cannot be rebuilt on replay.

    ``name`` keeps the original class name, so instance errors still report it.
    """

    code = "step_failed"

    def __init__(self, message: str, *, original_name: str = "Error") -> None:
        super().__init__(message)
        self.original_name = original_name

    @property
    def name(self) -> str:
        return self.original_name


# --- Errors of the instance-management API (the binding, REST, CLI) ---------


class InstanceNotFoundError(WorkflowError, LookupError):
    """No instance with that id in the workflow."""

    code = "instance.not_found"


class WorkflowNotFoundError(WorkflowError, LookupError):
    """No workflow of that name is registered or enabled, or the account does not exist."""

    code = "workflow.not_found"


class InstanceAlreadyExistsError(WorkflowError):
    """An instance with that id already exists in the workflow (or is twice in one batch)."""

    code = "instance.already_exists"


class InvalidInputError(WorkflowError, ValueError):
    """Bad ids, types, params or payloads."""

    code = "invalid_input"


class PayloadTooLargeError(InvalidInputError):
    """Params or an event payload over the size limit (1 MiB stored)."""

    code = "payload_too_large"


class InvalidTransitionError(WorkflowError):
    """The action is not allowed in the instance's current status."""

    code = "instance.invalid_transition"


class StepNotFoundError(InstanceNotFoundError):
    """No journal entry with that type, name and count (a 404 like a missing instance)."""

    code = "step.not_found"


class AlreadyDecidedError(InvalidTransitionError):
    """Someone answered this prompt first; ``decision`` says who and what."""

    code = "approval.already_decided"

    def __init__(self, decision: Any) -> None:
        super().__init__(
            f"Already {decision.outcome.rstrip('e')}ed by {decision.decided_by} "
            f"at {decision.created_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        self.decision = decision


# --- 2. Internal: between the app's own layers --------------------------------


class NotPersistableError(ValueError):
    """A value cannot be stored: not JSON, a NUL or lone surrogate, or over the size limit."""


class TokenRejectedError(Exception):
    """The bearer token is unknown, revoked or expired (the message says which)."""


# --- 3. Private: an activation's control-flow signals -------------------------


class Suspended(BaseException):
    """Every live branch of run() is parked: end this activation."""


class LeaseLostError(BaseException):
    """This activation no longer owns the instance; it must stop without writing."""


class StoreUnavailableError(BaseException):
    """A journal write failed in the database (connection lost, deadlock victim).

    Not the workflow's business: the activation stops, releases its lease and
    the instance is dispatched again.
    """


class PauseRequestedError(BaseException):
    """A pause was requested; no new step may start (the step boundary)."""
