"""The instances list's filters ⇄ its query string.

Parsing is lenient: a link edited by hand gets a page, never an error page,
except for text no database can store (NUL), which is refused as the REST API
refuses it (InvalidInputError: a 400 page saying which filter).
"""

from __future__ import annotations

import datetime as dt

from django.http import QueryDict

from workflows_app import validation
from workflows_app.models import InstanceStatus
from workflows_app.selectors.console import InstanceFilters


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def instance_filters_parse(params: QueryDict) -> InstanceFilters:
    """Lenient: an unknown status or a malformed date is ignored, never an error page."""
    for key, values in params.lists():  # the bulk form carries them as one field
        validation.check_text(key, "A filter name")
        for value in values:
            validation.check_text(value, f"The filter {key[:40]!r}")
    valid = set(InstanceStatus.values)
    return InstanceFilters(
        workflow=params.get("workflow", "")[:64],
        statuses=tuple(s for s in params.getlist("status") if s in valid),
        created_from=_date(params.get("created_from")),
        created_to=_date(params.get("created_to")),
        q=params.get("q", "").strip()[:100],
    )


def instance_filters_query(filters: InstanceFilters) -> str:
    """The filters as a query string (for links that keep them)."""
    params = QueryDict(mutable=True)
    if filters.workflow:
        params["workflow"] = filters.workflow
    params.setlist("status", list(filters.statuses))
    for name in ("created_from", "created_to"):
        value = getattr(filters, name)
        if value:
            params[name] = value.isoformat()
    if filters.q:
        params["q"] = filters.q
    return params.urlencode()
