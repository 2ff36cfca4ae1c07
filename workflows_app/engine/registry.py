"""Which workflow classes exist: discovered from WORKFLOW_MODULES and apps' ``workflows``."""

from __future__ import annotations

import importlib
import re
import threading
from types import ModuleType

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .entrypoint import WorkflowEntrypoint

WORKFLOW_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_WORKFLOW_NAME = 64

_lock = threading.Lock()
_registry: dict[str, type[WorkflowEntrypoint]] | None = None


def _modules() -> list[ModuleType]:
    found = [importlib.import_module(path) for path in settings.WORKFLOW_MODULES]
    for config in apps.get_app_configs():
        try:
            found.append(importlib.import_module(f"{config.name}.workflows"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.workflows":
                raise  # the module exists but one of its imports is broken
    return found


def _discover() -> dict[str, type[WorkflowEntrypoint]]:
    found: dict[str, type[WorkflowEntrypoint]] = {}
    for module in _modules():
        for value in vars(module).values():
            if (
                not isinstance(value, type)
                or not issubclass(value, WorkflowEntrypoint)
                or value is WorkflowEntrypoint
                or not isinstance(getattr(value, "name", None), str)
            ):
                continue
            name = value.name
            if len(name) > MAX_WORKFLOW_NAME or not WORKFLOW_NAME_RE.fullmatch(name):
                raise ImproperlyConfigured(
                    f"Workflow {value.__qualname__} has an invalid name {name!r}: use "
                    f"kebab-case (lowercase letters, digits, hyphens), at most "
                    f"{MAX_WORKFLOW_NAME} characters"
                )
            other = found.get(name)
            if other is not None and other is not value:
                raise ImproperlyConfigured(
                    f"Two workflows are named {name!r}: {other.__module__}.{other.__qualname__} "
                    f"and {value.__module__}.{value.__qualname__}"
                )
            found[name] = value
    return found


def workflows() -> dict[str, type[WorkflowEntrypoint]]:
    """All registered workflows by name (discovered once, on first use)."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = _discover()
    return _registry


def get(name: str) -> type[WorkflowEntrypoint] | None:
    return workflows().get(name)


def reset() -> None:
    """Forget what was discovered (tests that change WORKFLOW_MODULES call this)."""
    global _registry
    with _lock:
        _registry = None
