"""A drip campaign: welcome now, tips after a day, an offer three days later.

Params: ``{"email", "name"}``. Shows durable sleeps measured in days.
"""

from __future__ import annotations

from typing import Any

from workflows_app.sdk import WorkflowEntrypoint, WorkflowEvent, WorkflowStep


def _message(kind: str, user: dict[str, Any]) -> dict[str, str]:
    # A real deployment would call the email provider here.
    return {"to": user["email"], "template": kind}


class WelcomeDripWorkflow(WorkflowEntrypoint):
    name = "welcome-drip"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> list[str]:
        user = event.payload
        sent = [step.do("send welcome", lambda: _message("welcome", user))["template"]]
        step.sleep("wait a day", "1 day")
        sent.append(step.do("send tips", lambda: _message("tips", user))["template"])
        step.sleep("wait three days", "3 days")
        sent.append(step.do("send offer", lambda: _message("offer", user))["template"])
        return sent
