"""No message may carry an ETA or countdown beyond 60 s (reliability.md §3.1).

Redis re-delivers an ETA task once it has been unacked for ``visibility_timeout``,
so long timers belong in ``Instance.wake_at``. A static check: any
``countdown=``/``eta=`` in our code must be a literal of at most 60 seconds, or
``min(<anything>, <literal of at most 60>)``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT_SECONDS = 60


def _python_files() -> list[Path]:
    return [
        path
        for folder in ("project", "workflows_app")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts
    ]


def test_no_task_is_sent_with_a_long_or_computed_eta():
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg not in ("countdown", "eta"):
                    continue
                value = keyword.value
                if (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id == "min"
                ):
                    value = next((a for a in value.args if isinstance(a, ast.Constant)), value)
                short = (
                    keyword.arg == "countdown"
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, int | float)
                    and value.value <= LIMIT_SECONDS
                )
                if not short:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {keyword.arg}=")
    assert offenders == []


def test_the_broker_redelivers_only_after_the_hard_time_limit(settings):
    assert settings.CELERY_VISIBILITY_TIMEOUT > settings.CELERY_TASK_TIME_LIMIT
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
