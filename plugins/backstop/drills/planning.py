"""How a restore is planned: pure decisions on what RDS and the policy said (no I/O).

The planner operators look things up (the source instance, its automated backups, the DR
snapshots) and pass them here; these functions decide the restorable window, the point to
restore to, the snapshot, the tags and the checks, and build the `RestorePlan`. A request
that cannot be planned fails the task without retries (AirflowFailException), naming why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from backstop.drills.plan import RestorePlan, RestoreWindow, SnapshotRef, SourceConfig
from backstop.drills.times import iso, parse_time, tag_time
from backstop.naming import DRILL_TAG, EXPIRES_TAG, PURPOSE_TAG, SOURCE_TAG, is_managed, managed_tags
from backstop.policy import RDS_IDENTIFIER
from backstop.policy.drill_views import CheckSpec, DrillSpec

MANUAL_RESTORE = "manual-restore"  # the policy and purpose tag values of a restore made by hand
TABLE_PATTERN = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"  # schema.table, as the restore form takes it
_TABLE = re.compile(TABLE_PATTERN)


class RestoreWindowError(AirflowFailException):
    """The requested restore time lies outside the source's restorable window."""


@dataclass(frozen=True)
class PointInTime:
    """Where a PITR restore lands: the latest restorable time, or a time in the window."""

    use_latest: bool
    restore_time: datetime | None
    restore_point: datetime
    notes: tuple[str, ...] = ()


def restorable_window(
    instance: Mapping[str, Any], automated_earliest: datetime | None, now: datetime
) -> RestoreWindow:
    """(earliest, latest) restorable times of a source instance (a DescribeDBInstances item).

    Latest: LatestRestorableTime (on AWS it trails now by about 5 minutes). Earliest: the
    automated backup's RestoreWindow.EarliestTime when RDS reports it, else the later of the
    instance's creation and now minus the backup retention period.
    """
    latest = instance.get("LatestRestorableTime")
    if latest is None:
        raise AirflowFailException(
            f"{instance['DBInstanceIdentifier']} reports no LatestRestorableTime: automated backups "
            "are off (backup retention 0), so it cannot be restored to a point in time"
        )
    earliest = automated_earliest
    if earliest is None:
        created = instance.get("InstanceCreateTime") or now
        retention = int(instance.get("BackupRetentionPeriod") or 0)
        earliest = max(created, now - timedelta(days=retention)) if retention else created
    return RestoreWindow(earliest.astimezone(UTC), latest.astimezone(UTC))


def drill_point_in_time(
    started: datetime, offset_seconds: float | None, window: RestoreWindow
) -> PointInTime:
    """`offset_seconds` before the drill started, clamped to the window (noted); None = the latest."""
    if offset_seconds is None:
        return PointInTime(True, None, window.latest, ("restore to the latest restorable time",))
    wanted = started - timedelta(seconds=offset_seconds)
    point = min(max(wanted, window.earliest), window.latest)
    notes = ()
    if point != wanted:
        notes = (
            f"asked for {iso(wanted)} ({offset_seconds:.0f}s before the drill started); the restorable window "
            f"is {iso(window.earliest)} .. {iso(window.latest)}, so restoring to {iso(point)}",
        )
    return PointInTime(False, point, point, notes)


def newest_managed_copy(snapshots: Iterable[Any], spec: DrillSpec) -> SnapshotRef:
    """The newest available managed snapshot of the drill's source (rds_snapshots.SnapshotInfo items)."""
    candidates = [
        s for s in snapshots if s.status == "available" and is_managed(s.tags) and s.source_id == spec.source
    ]
    if not candidates:
        raise AirflowFailException(
            f"drill {spec.name}: no available managed snapshot of {spec.source} in "
            f"{spec.restore_region} to restore (has rds_cross_region_copy run?)"
        )
    newest = max(candidates, key=lambda s: s.created_at or datetime.min.replace(tzinfo=UTC))
    return SnapshotRef(newest.snapshot_id, newest.arn, newest.created_at, newest.kms_key_id, newest.encrypted)


def drill_plan(
    spec: DrillSpec,
    *,
    instance_id: str,
    run_id: str,
    started: datetime,
    source: Mapping[str, Any],
    point: PointInTime | None = None,
    snapshot: SnapshotRef | None = None,
) -> RestorePlan:
    """A drill's plan: a PITR to `point`, or (dr_snapshot) a restore of `snapshot`."""
    expires = started + timedelta(seconds=spec.max_lifetime_seconds)
    tags = managed_tags(
        policy=spec.name,
        tier="drill",
        run_id=run_id,
        extra={DRILL_TAG: "true", EXPIRES_TAG: tag_time(expires), SOURCE_TAG: spec.source},
    )
    if point is not None:
        restore = {
            "use_latest": point.use_latest,
            "restore_time": point.restore_time,
            "restore_point": point.restore_point,
            "notes": point.notes,
        }
    else:
        restore = {"snapshot": snapshot, "restore_point": snapshot.created_at if snapshot else None}
    return RestorePlan(
        name=spec.name,
        kind=spec.kind,
        restore_region=spec.restore_region,
        checks=spec.checks,
        objectives=spec.objectives,
        instance_class=spec.instance_class,
        **_common(spec, instance_id, started, expires, source, tags),
        **restore,
    )


def _common(
    spec: DrillSpec,
    instance_id: str,
    started: datetime,
    expires: datetime,
    source: Mapping[str, Any],
    tags: dict[str, str],
) -> dict[str, Any]:
    """The plan fields a drill and a manual restore fill alike."""
    return {
        "source": spec.source,
        "region": spec.region,
        "database": spec.database,
        "credentials_secret": spec.credentials_secret,
        "credentials_conn_id": spec.credentials_conn_id,
        "instance_id": instance_id,
        "started_at": started,
        "expires_at": expires,
        "source_config": SourceConfig.of(source),
        "tags": tags,
    }


# --- a manual restore (Runbook 2's form) ---------------------------------------------------------


def valid_tables(tables: Sequence[str]) -> tuple[str, ...]:
    bad = [t for t in tables if not _TABLE.match(t)]
    if bad:
        raise AirflowFailException(f"tables must be given as schema.table in lower case: {bad}")
    return tuple(tables)


def requested_time(value: str | datetime | None) -> datetime | None:
    """The form's restore time (UTC, ISO 8601), or None for the latest restorable time."""
    try:
        return parse_time(value)
    except ValueError as exc:
        raise AirflowFailException(f"restore time {value!r} is not an ISO 8601 date-time: {exc}") from None


def check_in_window(source: str, wanted: datetime | None, window: RestoreWindow) -> None:
    if wanted is not None and wanted not in window:
        raise RestoreWindowError(
            f"restore time {iso(wanted)} is outside the restorable window of {source}: "
            f"earliest {iso(window.earliest)}, latest {iso(window.latest)} (UTC). Pick a time in that window, or "
            "leave it empty for the latest restorable time. Nothing was created."
        )


def manual_target(source: str, requested: str | None, started: datetime) -> str:
    """The restored instance's id: as asked, or `<source>-restore-<YYYYMMDDHHMM>`."""
    target = requested or f"{source}-restore-{started:%Y%m%d%H%M}"
    if not RDS_IDENTIFIER.match(target):
        raise AirflowFailException(f"target instance id {target!r} is not a valid RDS identifier")
    return target


def chosen_checks(available: Sequence[CheckSpec], names: Sequence[str]) -> tuple[CheckSpec, ...]:
    """The checks named (in that order), or all of them when none are named."""
    by_name = {c.name: c for c in available}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise AirflowFailException(f"unknown checks {unknown}; known: {sorted(by_name)}")
    return tuple(by_name[n] for n in names) if names else tuple(by_name.values())


def manual_plan(
    spec: DrillSpec,
    *,
    instance_id: str,
    instance_class: str,
    run_id: str,
    started: datetime,
    lifetime_seconds: float,
    source: Mapping[str, Any],
    window: RestoreWindow,
    wanted: datetime | None,
    checks: tuple[CheckSpec, ...],
    tables: tuple[str, ...],
) -> RestorePlan:
    """A manual PITR restore's plan (kept for investigation: tagged with a purpose, not as a drill)."""
    expires = started + timedelta(seconds=lifetime_seconds)
    tags = managed_tags(
        policy=MANUAL_RESTORE,
        tier="restore",
        run_id=run_id,
        extra={PURPOSE_TAG: MANUAL_RESTORE, EXPIRES_TAG: tag_time(expires), SOURCE_TAG: spec.source},
    )
    return RestorePlan(
        name=instance_id,
        kind="manual",
        restore_region=spec.region,
        checks=checks,
        objectives=None,
        instance_class=instance_class,
        **_common(spec, instance_id, started, expires, source, tags),
        use_latest=wanted is None,
        restore_time=wanted,
        restore_point=wanted or window.latest,
        window=window,
        tables=tables,
    )
