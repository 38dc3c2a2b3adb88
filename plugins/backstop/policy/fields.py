"""The policy's field types: durations, regions, names, crons, bounded numbers, with their checks.

Each type refuses a bad value with a message that says what is expected; `backstop.policy.model`
builds the policy from them.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


MAX_DURATION = timedelta(days=36500)  # 100 years: longer than any retention or archive


def _parse_duration(value: Any) -> Any:
    """Accept `90s`, `5m`, `1h`, `30d`, `2w` besides what pydantic takes (seconds, ISO 8601)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            if seconds > MAX_DURATION.total_seconds():
                raise ValueError(f"{value!r} is too long; at most {MAX_DURATION.days}d (100 years)")
            return timedelta(seconds=seconds)
        if not value.strip().upper().startswith("P"):
            raise ValueError(
                f"{value!r} is not a duration; expected e.g. '5m', '1h', '7d' or ISO 8601 'PT5M'"
            )
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"{value} is not a positive duration")
    if value > MAX_DURATION:
        raise ValueError(f"{value} is too long; at most {MAX_DURATION.days}d (100 years)")
    return value


def bounded_int(low: int, high: int) -> Any:
    """A whole number from `low` to `high`; booleans and strings are refused, not converted."""

    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
            raise ValueError(f"got {shown}; expected a whole number from {low} to {high:,}")
        return value

    return Annotated[int, BeforeValidator(check)]


Duration = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_positive)]


def matching(pattern: re.Pattern[str], what: str, expected: str) -> AfterValidator:
    """A validator: the value must match `pattern`, else "'<value>' is not <what>; expected <expected>"."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}; expected {expected}")
        return value

    return AfterValidator(check)


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Every region in botocore's partition data (read as a file: no botocore import, no network)."""
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    data = json.loads((Path(spec.submodule_search_locations[0]) / "data" / "partitions.json").read_text())
    return frozenset(
        region
        for partition in data["partitions"]
        for region in partition["regions"]
        if not region.endswith("-global")
    )


def _region(value: str) -> str:
    regions = known_regions()
    if value not in regions and (regions or not _REGION_SHAPE.match(value)):
        near = difflib.get_close_matches(value, sorted(regions), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ValueError(f"{value!r} is not an AWS region; {hint}expected e.g. 'ap-northeast-2'")
    return value


_REGION_SHAPE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
Region = Annotated[str, AfterValidator(_region)]

# RDS identifiers: 1-63 chars, letters/digits/hyphens, start with a letter, no '--', no trailing '-'.
RDS_IDENTIFIER = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$")


RdsIdentifier = Annotated[
    str,
    matching(
        RDS_IDENTIFIER,
        "a valid RDS identifier",
        "1-63 letters, digits or hyphens, starting with a letter, without '--' or a trailing hyphen",
    ),
]

Slug = Annotated[
    str,
    matching(re.compile(r"^[a-z][a-z0-9-]{0,62}$"), "a valid name", "lowercase letters, digits and hyphens"),
]


SlackChannel = Annotated[
    str,
    matching(
        re.compile(r"^(#[a-z0-9_.-]{1,80}|[CGD][A-Z0-9]{6,})$"),
        "a Slack channel",
        "'#name' or a channel id like 'C0123ABCD'",
    ),
]


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone; expected e.g. 'Asia/Seoul' or 'UTC'") from None
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]


def _cron(value: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression; expected five fields, e.g. '0 3 * * 0'")
    fields = value.split()
    if len(fields) == 5 and fields[2] not in ("*", "?") and fields[4] not in ("*", "?"):
        raise ValueError(
            f"{value!r} restricts both day-of-month and day-of-week, which cron treats as OR "
            "(e.g. '1-7' and Sunday fires on days 1-7 AND on every Sunday); "
            "for 'first Sunday of the month' write '0 3 * * 0#1'"
        )
    if next_fires(value, 1) == []:
        raise ValueError(f"{value!r} never fires (no date matches it); nothing would ever run or alert")
    return value


def next_fires(cron: str, count: int) -> list[datetime]:
    """The next `count` fire times after a fixed reference date ([] if it never fires)."""
    from croniter import CroniterBadDateError, croniter

    if not croniter.is_valid(cron):
        return []
    it = croniter(cron, datetime(2026, 1, 1), max_years_between_matches=5)
    try:
        return [it.get_next(datetime) for _ in range(count)]
    except CroniterBadDateError:
        return []


def longest_gap(cron: str) -> timedelta:
    """The longest time between two fires of `cron` over its first 60 fires (or about a year)."""
    fires = next_fires(cron, 60)
    gaps = [b - a for a, b in zip(fires, fires[1:], strict=False)]
    return max(gaps, default=timedelta(days=1))


Cron = Annotated[str, AfterValidator(_cron)]


BucketName = Annotated[
    str,
    matching(
        re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
        "an S3 bucket name",
        "3-63 lowercase letters, digits, '.', '-'",
    ),
]
