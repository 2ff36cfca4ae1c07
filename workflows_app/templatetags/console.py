"""Presentation helpers for the console: times, statuses, durations, JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.utils.html import format_html

from workflows_app.console.formatting import (
    format_bytes,
    format_count,
    format_money,
    format_quantity,
)

register = template.Library()

# A distinct glyph per status so status never depends on colour alone.
_STATUS_GLYPHS = {
    "queued": "○",
    "running": "▶",
    "paused": "❚❚",
    "errored": "✖",
    "terminated": "■",
    "complete": "✔",
    "waiting": "◷",
    "waitingForPause": "◐",
    "succeeded": "✔",
    "failed": "✖",
    "retrying": "↻",
}
TRUNCATE_AT = 4096


@register.simple_tag
def time_tag(value: dt.datetime | None) -> str:
    """UTC in the markup and on hover; the console script shows it in local time."""
    if value is None:
        return "—"
    utc = value.astimezone(dt.UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC" data-local>{} UTC</time>',
        utc.isoformat(),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
    )


@register.simple_tag
def status_label(status: str) -> str:
    return format_html(
        '<span class="status status-{}"><span aria-hidden="true">{}</span> {}</span>',
        status,
        _STATUS_GLYPHS.get(status, "•"),
        status,
    )


@register.filter
def humanize_ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value:.2f} ms"
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@register.simple_tag
def duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return humanize_ms((end - start).total_seconds() * 1000)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def truncated(text: str) -> str:
    return text if len(text) <= TRUNCATE_AT else text[:TRUNCATE_AT] + "…"


@register.filter
def is_truncated(text: str) -> bool:
    return len(text) > TRUNCATE_AT


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key)


@register.filter
def capped(count: int) -> str:
    """A count from selectors.capped_count, as people read it."""
    return format_count(count)


@register.filter
def money(value: Any) -> str:
    """USD from a Decimal, 2 to 8 decimals (sub-cent costs stay visible)."""
    return format_money(value)


@register.filter
def quantity(value: Any, places: int = 3) -> str:
    """A usage figure with thousands separators and at most ``places`` decimals."""
    return format_quantity(value, int(places))


@register.filter
def bytes_short(value: Any) -> str:
    return format_bytes(value)
