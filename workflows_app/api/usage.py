"""/accounts/{account_id}/usage: the account's usage and statement for a billing period.

Not part of Cloudflare's API (it has none for Workflows usage); same envelope,
same token scoping. Money and fractional quantities are decimal strings.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from workflows_app import billing
from workflows_app.engine import clock

from .auth import access_account
from .envelope import ERROR_RESPONSES, Envelope, ok
from .params import AccountId
from .schemas import UsageOut

router = Router(tags=["usage"])

PeriodQuery = Query(None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (default: now)")


def _line(line: billing.MeterLine) -> dict[str, str]:
    return {
        "meter": line.meter,
        "unit": line.unit,
        "usage": str(line.usage),
        "included": str(line.included),
        "overage": str(line.overage),
        "unit_price": str(line.unit_price),
        "cost": str(line.cost),
    }


@router.get(
    "/accounts/{account_id}/usage",
    response={200: Envelope[UsageOut], **ERROR_RESPONSES},
    summary="Usage per day and per workflow, and the billing statement of a period",
)
def usage_get(
    request: HttpRequest, account_id: str = AccountId, period: str | None = PeriodQuery
) -> dict[str, Any]:
    account = access_account(request, account_id)
    today = clock.now().date()
    chosen = billing.Period.parse(period or "", default=today)
    statement = billing.statement(account=account, period=chosen, today=today)
    return ok(
        {
            "period": chosen.label,
            "start": chosen.start.isoformat(),
            "end": chosen.end.isoformat(),
            "days": [
                {
                    "day": d.day.isoformat(),
                    "invocations": d.invocations,
                    "attempts": d.attempts,
                    "cpu_ms": str(d.cpu_ms),
                    "wall_ms": str(d.wall_ms),
                    "stored_bytes": d.stored_bytes,
                }
                for d in billing.usage_by_day(account=account, period=chosen)
            ],
            "workflows": [
                {
                    "workflow": w.workflow,
                    "invocations": w.invocations,
                    "cpu_ms": str(w.cpu_ms),
                    "wall_ms": str(w.wall_ms),
                    "stored_bytes_delta": w.stored_bytes_delta,
                }
                for w in billing.usage_by_workflow(account=account, period=chosen)
            ],
            "statement": {
                "plan": statement.plan,
                "lines": [_line(line) for line in statement.lines],
                "total": str(statement.total),
                "days_elapsed": statement.days_elapsed,
                "projected_lines": [_line(line) for line in statement.projected_lines],
                "projected_total": str(statement.projected_total),
            },
        }
    )
