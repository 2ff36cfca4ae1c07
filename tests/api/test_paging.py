"""The one keyset cursor codec (selectors.paging.Cursor), and what each caller makes of garbage."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from tests.api.conftest import error_of
from workflows_app.selectors.paging import Cursor

MOMENT = dt.datetime(2026, 1, 31, 12, 30, 15, 123456, tzinfo=dt.UTC)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_round_trips_in_utc():
    # given a position whose instant carries another offset
    position = Cursor(created_at=MOMENT.astimezone(dt.timezone(dt.timedelta(hours=5))), pk=42)
    # when
    text = position.encode()
    # then it is URL-safe, unpadded, and decodes to the same instant in UTC
    assert "=" not in text
    assert "/" not in text
    assert "+" not in text
    assert Cursor.decode(text) == Cursor(created_at=MOMENT, pk=42)
    assert Cursor.decode(text).created_at.tzinfo is dt.UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "%%",
        "not base64!",
        _b64("2026-01-31T12:30:15+00:00"),  # no pk
        _b64("2026-01-31T12:30:15+00:00|x"),
        _b64("2026-01-31T12:30:15+00:00|0"),
        _b64(f"2026-01-31T12:30:15+00:00|{2**63}"),
        _b64("2026-01-31T12:30:15|7"),  # naive
        _b64("yesterday|7"),
        _b64("2026-01-31T12:30:15+00:00|7|8"),
        base64.urlsafe_b64encode(b"\xff\xfe|1").decode(),  # not UTF-8
    ],
)
def test_garbage_decodes_to_none(text):
    assert Cursor.decode(text) is None


@pytest.mark.django_db(transaction=True)
def test_the_rest_api_answers_a_bad_cursor_with_400(api, account_a, enabled):
    url = f"accounts/{account_a.pk}/workflows/api-echo/instances"
    response = api.get(url, query={"cursor": _b64("yesterday|7")})
    assert response.status_code == 400
    assert error_of(response) == {
        "code": 10001,
        "message": f"Invalid cursor {_b64('yesterday|7')!r}",
    }
