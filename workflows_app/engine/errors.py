"""The error hierarchy workflow authors and API clients see.

Each error has a stable ``code`` (used by the REST API) so clients can branch
on it without parsing messages.
"""


class WorkflowError(Exception):
    """Base class of every error the engine raises on purpose."""

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
    code = "instance.not_found"


class WorkflowNotFoundError(WorkflowError, LookupError):
    code = "workflow.not_found"


class InstanceAlreadyExistsError(WorkflowError):
    code = "instance.already_exists"


class InvalidInputError(WorkflowError, ValueError):
    """Bad ids, types, params or payloads."""

    code = "invalid_input"


class PayloadTooLargeError(InvalidInputError):
    code = "payload_too_large"


class InvalidTransitionError(WorkflowError):
    """The action is not allowed in the instance's current status."""

    code = "instance.invalid_transition"
