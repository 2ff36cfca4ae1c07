"""Workflows the decision tests drive: prompts answered from the approvals inbox."""

from __future__ import annotations

import asyncio
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint, WorkflowTimeoutError


class SignOff(WorkflowEntrypoint):
    """One prompt ("sign off", type "sign-off") that times out after an hour."""

    name = "decisions-sign-off"

    def run(self, event: Any, step: Any) -> Any:
        try:
            got = step.wait_for_event("sign off", type="sign-off", timeout="1 hour")
        except WorkflowTimeoutError as exc:
            return {"timed_out": str(exc)}
        return {"received": got["payload"]}


class TwoSignOffs(WorkflowEntrypoint):
    """Two prompts of the same type at once: each decision must reach its own prompt."""

    name = "decisions-two-sign-offs"

    async def run(self, event: Any, step: Any) -> Any:
        first, second = await asyncio.gather(
            step.wait_for_event("legal", type="sign-off", timeout="1 day"),
            step.wait_for_event("security", type="sign-off", timeout="1 day"),
        )
        return {"legal": first["payload"], "security": second["payload"]}
