"""Code review approval: wait for a human decision, raced against the PR being closed.

Params: ``{"repo", "number", "title", "author", "timeout": "3 days"}``.
A reviewer answers with an event of type ``review-decision`` and payload
``{"decision": "approve" | "reject", "comment", "by"}`` (the console's approvals
inbox sends exactly that); the git host's webhook sends ``pr-closed``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint, WorkflowEvent, WorkflowStep, WorkflowTimeoutError

DECISION_EVENT = "review-decision"
CLOSED_EVENT = "pr-closed"


class CodeReviewWorkflow(WorkflowEntrypoint):
    name = "code-review"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> dict[str, Any]:
        pr = event.payload
        timeout = pr.get("timeout", "3 days")

        await step.do(
            "request review", lambda: {"notified": f"reviewers of {pr['repo']}#{pr['number']}"}
        )

        decision = asyncio.ensure_future(
            step.wait_for_event("await review decision", type=DECISION_EVENT, timeout=timeout)
        )
        closed = asyncio.ensure_future(
            step.wait_for_event("await pr closed", type=CLOSED_EVENT, timeout=timeout)
        )
        done, _ = await asyncio.wait({decision, closed}, return_when=asyncio.FIRST_COMPLETED)
        # Journal the winner: if the loser's event arrives later, replays must
        # still take the branch that was taken the first time.
        winner = await step.do(
            "record race winner", lambda: "decision" if decision in done else "closed"
        )

        if winner == "closed":
            return {"outcome": "closed"}
        try:
            answer = decision.result()["payload"]
        except WorkflowTimeoutError:
            await step.do("expire review", lambda: {"expired": f"{pr['repo']}#{pr['number']}"})
            return {"outcome": "expired"}

        if answer.get("decision") == "approve":
            merged = await step.do(
                "merge pull request", lambda: {"merged": f"{pr['repo']}#{pr['number']}"}
            )
            return {"outcome": "approved", "by": answer.get("by"), **merged}
        await step.do(
            "notify author of rejection",
            lambda: {"notified": pr.get("author"), "comment": answer.get("comment", "")},
        )
        return {"outcome": "rejected", "by": answer.get("by"), "comment": answer.get("comment")}
