"""workflows_app.sdk is the whole public face: every error an author can meet, all documented."""

from __future__ import annotations

from workflows_app import sdk
from workflows_app.engine import errors

# Public errors that only the REST API and the console raise: neither a
# workflow's code nor the binding can meet them.
NOT_REACHABLE_FROM_THE_SDK = {"StepNotFoundError", "AlreadyDecidedError"}


def test_every_public_error_is_exported_unless_only_the_api_or_console_raise_it():
    public_errors = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.WorkflowError)
    }

    assert public_errors - NOT_REACHABLE_FROM_THE_SDK <= set(sdk.__all__)
    assert {"CpuLimitExceededError", "QuotaExceededError", "NondeterminismError"} <= set(
        sdk.__all__
    )


def test_every_exported_name_exists_and_has_a_docstring():
    # __doc__, not inspect.getdoc: a class must not pass on its base's docstring.
    undocumented = [name for name in sdk.__all__ if not getattr(sdk, name).__doc__]

    assert undocumented == []


def test_every_public_method_of_the_binding_and_the_instance_handle_has_a_docstring():
    undocumented = [
        f"{cls.__name__}.{name}"
        for cls in (sdk.WorkflowBinding, sdk.WorkflowInstance)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_") and not member.__doc__
    ]

    assert undocumented == []
