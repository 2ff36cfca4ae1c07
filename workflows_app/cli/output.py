"""Printing for the CLI: JSON for machines, aligned tables for people."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Protocol

from django.core.serializers.json import DjangoJSONEncoder


class Stream(Protocol):
    def write(self, text: str) -> Any: ...


class Output:
    def __init__(self, stream: Stream, *, as_json: bool) -> None:
        self.stream = stream
        self.as_json = as_json

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")

    def json(self, value: Any) -> None:
        self.line(json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))

    def result(self, value: Any, render: Any) -> None:
        """JSON with --json, otherwise ``render(value)`` for people."""
        if self.as_json:
            self.json(value)
        else:
            render(value)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [[cell(v) for v in row] for row in rows]
        widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
        self.line(
            "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
        )
        for row in cells:
            self.line("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if not rows:
            self.line("(none)")

    def fields(self, pairs: Sequence[tuple[str, Any]]) -> None:
        width = max((len(k) for k, _ in pairs), default=0)
        for key, value in pairs:
            self.line(f"{key.ljust(width)}  {cell(value)}")


def cell(value: Any, *, limit: int = 60) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        value = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def truncate(value: Any, limit: int) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, cls=DjangoJSONEncoder)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"
