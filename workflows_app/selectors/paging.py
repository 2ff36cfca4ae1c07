"""The one keyset cursor codec: a page continues after the (created_at, pk) of its last row.

A cursor is opaque to clients: URL-safe base64 of ``"<ISO instant>|<pk>"``.
``Cursor.decode`` answers None for anything this codec did not make, and each
caller decides what a bad cursor means (the REST API: a 400; the console: the
first page).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt

from django.db.models import Q

from workflows_app.models import Instance

# Primary keys are positive 64-bit integers in every supported database.
_MAX_PK = 2**63


@dataclasses.dataclass(frozen=True, kw_only=True)
class Cursor:
    """A position in a list ordered by (created_at, pk): the last row of a page."""

    created_at: dt.datetime
    pk: int

    @classmethod
    def of(cls, row: Instance) -> Cursor:
        return cls(created_at=row.created_at, pk=row.pk)

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.pk}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The position ``text`` encodes, or None if it is not a cursor of this codec."""
        try:
            padded = text + "=" * (-len(text) % 4)
            created, pk = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
            moment = dt.datetime.fromisoformat(created)
            number = int(pk)
            if moment.tzinfo is None or not 0 < number < _MAX_PK:
                return None
            return cls(created_at=moment.astimezone(dt.UTC), pk=number)
        except (ValueError, OverflowError, UnicodeError, binascii.Error):
            return None

    def rows_after(self, *, descending: bool) -> Q:
        """The rows that come after this position, newest first if ``descending``."""
        if descending:
            return Q(created_at__lt=self.created_at) | Q(created_at=self.created_at, pk__lt=self.pk)
        return Q(created_at__gt=self.created_at) | Q(created_at=self.created_at, pk__gt=self.pk)
