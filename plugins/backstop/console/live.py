"""What AWS says now, through the policy's Airflow connection: restorable windows, DR copies,
manual snapshot quota use, and the drill / restore instances still running.

Every call is a describe or list (the IAM policy already allows them: the pipelines make the same
calls). One snapshot listing per region and kind serves the windows, the copies and the quota.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backstop.aws.rds_instances import (
    describe_instance,
    earliest_automated_restore_time,
    instance_tags,
    list_instances,
)
from backstop.aws.rds_snapshots import SnapshotInfo, list_snapshots
from backstop.naming import DRILL_TAG, EXPIRES_TAG, PURPOSE_TAG, RESTORE_VERIFIED_TAG, is_managed
from backstop.policy import BackupPolicy
from backstop.policy.drill_views import drill_regions, restore_form
from backstop.policy.views import snapshot_regions

RdsClients = Callable[[str], Any]  # region -> boto3 RDS client (from the provider's RdsHook)


class SnapshotCache:
    """Manual snapshots per (region, kind), listed once per page view."""

    def __init__(self, rds: RdsClients) -> None:
        self.rds = rds
        self._lists: dict[tuple[str, str], list[SnapshotInfo]] = {}

    def manual(self, region: str, db_type: str = "instance") -> list[SnapshotInfo]:
        key = (region, db_type)
        if key not in self._lists:
            self._lists[key] = list_snapshots(self.rds(region), db_type, snapshot_type="manual")
        return self._lists[key]


@dataclass(frozen=True)
class Copy:
    region: str
    snapshot_id: str | None
    created_at: datetime | None
    verified: bool


@dataclass(frozen=True)
class Restorable:
    """One database the restore form offers: its window now, newest snapshot, newest DR copies."""

    source: str
    region: str
    status: str | None
    earliest: datetime | None
    latest: datetime | None
    problem: str | None
    newest_snapshot: str | None
    newest_snapshot_at: datetime | None
    copies: tuple[Copy, ...]


def dr_regions_of(policy: BackupPolicy, source: str) -> list[str]:
    """The DR regions the policy copies `source` to (policies naming it by id)."""
    regions = set()
    for item in policy.rds_snapshots:
        if any(getattr(r, "id", None) == source for r in item.resources):
            regions |= {dr.region for dr in item.dr_regions}
    regions |= {d.dr_region for d in policy.drills if d.source == source and d.dr_region}
    return sorted(regions)


def _newest(snapshots: list[SnapshotInfo], source: str) -> SnapshotInfo | None:
    mine = [s for s in snapshots if s.source_id == source and is_managed(s.tags) and s.available]
    return max(mine, key=lambda s: s.created_at or datetime.min.replace(tzinfo=UTC), default=None)


def restorable(
    policy: BackupPolicy, rds: RdsClients, snapshots: SnapshotCache, now: datetime
) -> list[Restorable]:
    from backstop.drills.planning import restorable_window

    form = restore_form(policy)
    out = []
    for source, spec in sorted((form.sources if form else {}).items()):
        client = rds(spec.region)
        instance = describe_instance(client, source)
        earliest = latest = None
        problem = None
        if instance is None:
            problem = f"{source} does not exist in {spec.region}"
        else:
            try:
                window = restorable_window(instance, earliest_automated_restore_time(client, source), now)
                earliest, latest = window.earliest, window.latest
            except Exception as exc:  # automated backups off: no point-in-time restore
                problem = str(exc)
        newest = _newest(snapshots.manual(spec.region), source)
        copies = []
        for region in dr_regions_of(policy, source):
            copy = _newest(snapshots.manual(region), source)
            verified = [
                s
                for s in snapshots.manual(region)
                if s.source_id == source and s.tags.get(RESTORE_VERIFIED_TAG) == "true"
            ]
            copies.append(
                Copy(
                    region,
                    copy.snapshot_id if copy else None,
                    copy.created_at if copy else None,
                    bool(copy and copy in verified),
                )
            )
        out.append(
            Restorable(
                source=source,
                region=spec.region,
                status=(instance or {}).get("DBInstanceStatus"),
                earliest=earliest,
                latest=latest,
                problem=problem,
                newest_snapshot=newest.snapshot_id if newest else None,
                newest_snapshot_at=newest.created_at if newest else None,
                copies=tuple(copies),
            )
        )
    return out


@dataclass(frozen=True)
class QuotaUse:
    region: str
    instance_snapshots: int
    cluster_snapshots: int
    quota: int

    @property
    def used(self) -> int:
        return max(self.instance_snapshots, self.cluster_snapshots)

    @property
    def status(self) -> str:
        share = self.used / self.quota if self.quota else 1.0
        return "red" if share >= 0.9 else "amber" if share >= 0.7 else "green"


def quota_use(policy: BackupPolicy, snapshots: SnapshotCache) -> list[QuotaUse]:
    """Manual snapshots per region against the policy's quota (RDS counts instance and cluster
    snapshots against separate quotas of the same default size, so the larger count is shown)."""
    quota = policy.defaults.manual_snapshot_quota
    return [
        QuotaUse(region, len(snapshots.manual(region)), len(snapshots.manual(region, "cluster")), quota)
        for region in snapshot_regions(policy)
    ]


@dataclass(frozen=True)
class RunningInstance:
    instance_id: str
    region: str
    status: str | None
    purpose: str  # "drill" or "manual-restore"
    created: datetime | None
    expires_at: str | None


def running_instances(policy: BackupPolicy, rds: RdsClients) -> list[RunningInstance]:
    """Managed drill and manual-restore instances that exist now (they cost money until deleted)."""
    regions = sorted(set(drill_regions(policy)) | {policy.defaults.region})
    out = []
    for region in regions:
        for instance in list_instances(rds(region)):
            tags = instance_tags(instance)
            if not is_managed(tags):
                continue
            purpose = "drill" if tags.get(DRILL_TAG) == "true" else tags.get(PURPOSE_TAG)
            if not purpose:
                continue
            out.append(
                RunningInstance(
                    instance_id=instance["DBInstanceIdentifier"],
                    region=region,
                    status=instance.get("DBInstanceStatus"),
                    purpose=purpose,
                    created=instance.get("InstanceCreateTime"),
                    expires_at=tags.get(EXPIRES_TAG),
                )
            )
    return out
