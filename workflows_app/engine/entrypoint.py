"""The base class workflow authors subclass, and the event ``run()`` receives."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, ClassVar


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkflowEvent:
    """The trigger of an instance: its params (``payload``) and identity.

    Also readable as a mapping with Cloudflare's keys (``event["payload"]``,
    ``event["instanceId"]``) so code ported from Cloudflare's Python Workflows works.
    """

    payload: Any
    timestamp: dt.datetime
    instance_id: str
    workflow_name: str

    _ALIASES: ClassVar[dict[str, str]] = {
        "instanceId": "instance_id",
        "workflowName": "workflow_name",
    }

    def __getitem__(self, key: str) -> Any:
        field = self._ALIASES.get(key, key)
        if field not in {f.name for f in dataclasses.fields(self)}:
            raise KeyError(key)
        return getattr(self, field)


class WorkflowEntrypoint:
    """Subclass this and implement ``run(self, event, step)`` (async or plain).

    ``name`` (kebab-case, at most 64 characters) is how instances, the REST API
    and the CLI refer to the workflow. What ``run`` returns is the instance's
    output; an exception escaping it ends the instance ``errored``.

    ``run`` is replayed from the top on every activation: code outside steps
    may run many times, so keep side effects inside ``step.do``.
    """

    name: ClassVar[str]

    def __init__(self, env: Any = None) -> None:
        self.env = env

    def run(self, event: WorkflowEvent, step: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement run(event, step)")
