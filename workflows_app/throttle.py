"""Throttling of authentication failures: console sign-ins and REST API tokens.

Failures are counted per client address and per name (the username typed, or
the first characters of the token sent), over a sliding window of
``WORKFLOWS_AUTH_FAILURE_WINDOW_SECONDS``. Once either count reaches its limit,
attempts from that address or for that name are refused without checking the
credentials, until the oldest failure leaves the window (the Retry-After).

The counts live in Django's ``default`` cache, which the settings point at a
table in the database (or at Redis with ``DJANGO_CACHE_URL``), so every web
process shares them. Each failure claims one of ``limit`` slots with the
cache's atomic ``add`` (an INSERT on the table's primary key, SET NX on Redis),
so concurrent failures are never lost to a read-modify-write race.

A cache that cannot be reached (say, the table was never created) never locks
anyone out: the error is logged and the attempt proceeds as if unthrottled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger(__name__)
_warned = False


def _cache_failed(what: str) -> None:
    """Log a cache failure once per process (not once per request), with the fix."""
    global _warned
    if not _warned:
        _warned = True
        logger.exception(
            "Authentication throttle: the cache cannot be %s, so failures are not throttled "
            "(run `manage.py createcachetable`, or check DJANGO_CACHE_URL)",
            what,
        )


@dataclasses.dataclass(frozen=True)
class Subject:
    """One counter: its kind (signin or api), what it counts (client or name) and value."""

    kind: str
    what: str
    value: str

    @property
    def limit(self) -> int:
        if self.what == "client":
            return int(settings.WORKFLOWS_AUTH_FAILURES_PER_CLIENT)
        return int(settings.WORKFLOWS_AUTH_FAILURES_PER_NAME)

    def slots(self) -> list[str]:
        """``limit`` cache keys, one per failure in the window (none: throttling is off)."""
        digest = hashlib.sha256(self.value.encode("utf-8", "replace")).hexdigest()[:32]
        return [f"authfail:{self.kind}:{self.what}:{digest}:{n}" for n in range(max(0, self.limit))]


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the last hop of WORKFLOWS_CLIENT_IP_HEADER."""
    header = settings.WORKFLOWS_CLIENT_IP_HEADER
    if header:
        # The last entry is the one the trusted proxy in front of us added.
        forwarded = request.headers.get(header, "").split(",")[-1].strip()
        if forwarded:
            return forwarded[:100]
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def subjects(request: HttpRequest, *, kind: str, name: str) -> list[Subject]:
    found = [Subject(kind, "client", client_address(request))]
    if name:
        found.append(Subject(kind, "name", name.casefold()[:200]))
    return found


def retry_after(found: list[Subject]) -> int | None:
    """Seconds until an attempt is allowed again, or None if none of ``found`` is throttled."""
    now = time.time()
    keys = [slot for subject in found for slot in subject.slots()]
    if not keys:
        return None
    try:
        taken = cache.get_many(keys)
    except Exception:
        _cache_failed("read")
        return None
    wait: int | None = None
    for subject in found:
        expiries = [
            float(taken[slot])
            for slot in subject.slots()
            if isinstance(taken.get(slot), int | float) and taken[slot] > now
        ]
        if subject.limit > 0 and len(expiries) >= subject.limit:
            seconds = max(1, math.ceil(min(expiries) - now))
            wait = max(wait or 0, seconds)
    return wait


def record_failure(found: list[Subject]) -> None:
    """Count one failed attempt against each of ``found``."""
    window = int(settings.WORKFLOWS_AUTH_FAILURE_WINDOW_SECONDS)
    now = time.time()
    try:
        for subject in found:
            slots = subject.slots()
            if not slots:
                continue
            taken = cache.get_many(slots)
            for slot in slots:
                if slot in taken:
                    continue
                # add() is atomic: of two concurrent failures, each claims its own slot.
                if cache.add(slot, now + window, timeout=window):
                    break
    except Exception:
        _cache_failed("written")


def reset(found: list[Subject]) -> None:
    """Forget the failures of the names in ``found`` (after a successful sign-in)."""
    keys = [slot for subject in found if subject.what == "name" for slot in subject.slots()]
    if not keys:
        return
    try:
        cache.delete_many(keys)
    except Exception:
        _cache_failed("written")
