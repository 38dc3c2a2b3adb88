"""The `freshness:` section of the policy: how the hourly freshness monitor alerts.

Optional; every key has a safe default. A stale resource is announced once; while it stays
stale a reminder follows every `reminder_every` (at least 1 hour, so the hourly monitor can
never repeat itself every run; at most 30 days, so a stale backup is never forgotten).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from backstop.policy.fields import Duration

MIN_REMINDER = timedelta(hours=1)
MAX_REMINDER = timedelta(days=30)


def _reminder_bounds(value: timedelta) -> timedelta:
    if not MIN_REMINDER <= value <= MAX_REMINDER:
        raise ValueError(
            f"got {int(value.total_seconds())}s; expected a duration from 1h to 30d (the monitor runs hourly; a stale backup "
            "must be mentioned again at least monthly)"
        )
    return value


class FreshnessSettings(BaseModel):
    """Alerting of the backup freshness monitor (`backup_freshness`, hourly)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    # While a resource stays stale, remind its channel this often (default: once a day).
    reminder_every: Annotated[Duration, AfterValidator(_reminder_bounds)] = timedelta(days=1)
