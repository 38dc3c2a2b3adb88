"""How the drill slice writes and reads times: ISO 8601 in UTC in XCom and reports, seconds in tags."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(when: datetime | None) -> str | None:
    """`2026-11-08T02:55:00.123456+00:00`; None stays None."""
    return when.astimezone(UTC).isoformat() if when else None


def parse_time(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 date-time (a trailing Z is fine) as an aware datetime; naive means UTC; empty is None.

    Raises ValueError for anything else.
    """
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        when = value
    else:
        when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def tag_time(when: datetime) -> str:
    """`2026-11-08T05:55:00Z`: the form of time tag values (backstop:expires-at, ...)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
