"""Pure: the facts about one resource in one region -> green / amber / red and a reason.

Red means stale, and only red alerts: no backup at all in a region where one belongs, or the
newest one older than the schedule's `max_age` (the same limit at which retention stops
pruning; derived from the cron when the policy omits it). Amber is worth a look but wakes
nobody: a DR copy behind the source, a scheduled backup overdue but still within `max_age`, or
a failed latest drill. The policy's RPO is stated in the reason, not coloured: a weekly
snapshot can never meet a 5-minute RPO (point-in-time recovery does that), so colouring by it
would turn every row amber for good and teach people to ignore amber.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the models are pydantic: building them costs parse time the DAG file need not pay
    from backstop.freshness.evidence import DrillResult, Role, Status


@dataclass(frozen=True)
class Facts:
    """What a freshness source found for one resource in one region (times UTC)."""

    role: Role
    region: str
    newest_backup_id: str | None
    newest_backup_at: datetime | None
    max_age_s: float
    overdue_after_s: float | None = None  # the schedule's longest gap: a newer backup was due
    rpo_s: float | None = None
    source_backup_id: str | None = None  # DR rows: the source region's newest backup
    source_backup_at: datetime | None = None
    last_drill: DrillResult | None = None


def _age(seconds: float) -> str:
    from backstop.retention.planner import format_duration  # at run time: a heavy import to parse

    return format_duration(timedelta(seconds=seconds))


def age_seconds(facts: Facts, now: datetime) -> float | None:
    if facts.newest_backup_at is None:
        return None
    return max(0.0, (now - facts.newest_backup_at).total_seconds())


def assess(facts: Facts, now: datetime) -> tuple[Status, str]:
    """The status of one row and a reason a person can act on."""
    what = "DR copy" if facts.role == "dr" else "backup"
    age = age_seconds(facts, now)
    if age is None:
        if facts.role == "dr":
            source = f"; the source's newest is {facts.source_backup_id}" if facts.source_backup_id else ""
            return "red", f"no DR copy in {facts.region}{source}"
        return "red", f"no available Backstop-managed backup in {facts.region}"
    if age > facts.max_age_s:
        return "red", (
            f"stale: newest {what} {facts.newest_backup_id} is {_age(age)} old, over max_age "
            f"{_age(facts.max_age_s)}"
        )
    if (
        facts.role == "dr"
        and facts.source_backup_at is not None
        and facts.source_backup_id != facts.newest_backup_id
        and facts.source_backup_at > facts.newest_backup_at
    ):
        return "amber", (
            f"DR copy behind the source: newest copy {facts.newest_backup_id} is {_age(age)} old; "
            f"{facts.source_backup_id} is not copied to {facts.region} yet"
        )
    if facts.overdue_after_s is not None and age > facts.overdue_after_s:
        left = facts.max_age_s - age
        return "amber", (
            f"overdue: newest {what} {facts.newest_backup_id} is {_age(age)} old, a newer one was due "
            f"(schedule every {_age(facts.overdue_after_s)}); stale in {_age(left)}"
        )
    drill = facts.last_drill
    if drill is not None and not drill.passed:
        when = f" on {drill.at:%Y-%m-%d}" if drill.at else ""
        return "amber", f"latest restore drill {drill.name} FAILED{when}; newest {what} is {_age(age)} old"
    reason = f"newest {what} {facts.newest_backup_id} is {_age(age)} old (max_age {_age(facts.max_age_s)})"
    if facts.rpo_s is not None and age > facts.rpo_s:
        reason += f"; restoring it alone would lose up to {_age(age)} (RPO {_age(facts.rpo_s)})"
    return "green", reason
