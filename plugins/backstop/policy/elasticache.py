"""The `elasticache:` policy section: Redis replication groups snapshotted daily, pruned, drilled.

Seed (dr-plan-triflow.md): ElastiCache snapshots daily 02:00-03:00 KST, kept 5 days; restore
by creating a replication group from a snapshot. Hooked into BackupPolicy by one field;
`cross_check` (called from BackupPolicy's validator) checks the references to `schedules`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backstop.policy.fields import BucketName, Duration, Region, SlackChannel, Slug, bounded_int, matching

# Replication group / cache cluster ids: 1-40 letters, digits, hyphens; start with a letter;
# no '--', no trailing '-'. A drill group is `<id>-drill-<YYYYMMDD>` (15 more): ids up to 25.
CACHE_ID = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,24}(?<!-)$")
CacheId = Annotated[
    str,
    matching(
        CACHE_ID,
        "an ElastiCache id Backstop can drill",
        "1-25 letters, digits or single hyphens, starting with a letter (the drill group "
        "'<id>-drill-<YYYYMMDD>' must fit ElastiCache's 40 characters)",
    ),
]
# ElastiCache's snapshot window: hh24:mi-hh24:mi in UTC, at least 60 minutes.
SnapshotWindow = Annotated[
    str,
    matching(
        re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"),
        "an ElastiCache snapshot window",
        "'hh:mm-hh:mm' in UTC, e.g. '17:00-18:00' (02:00-03:00 KST)",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CacheResource(_Strict):
    """A Redis replication group (cluster mode on or off) or a single cache cluster."""

    type: Literal["replication_group", "cache_cluster"] = "replication_group"
    id: CacheId


class AutomaticSnapshots(_Strict):
    """What ElastiCache's own automatic snapshots must be set to (posture check, alert only)."""

    retention_days: bounded_int(1, 35)
    window: SnapshotWindow


class CacheRetention(_Strict):
    """Managed snapshots older than `max_age` are deleted; the newest `min_keep` always stay."""

    max_age: Duration
    min_keep: bounded_int(1, 1_000) = 2


class CacheExport(_Strict):
    """Export each new snapshot to S3 (CopySnapshot with TargetBucket), then copy it to the DR region.

    ElastiCache exports only to a bucket in the snapshot's own region (the bucket must grant
    ElastiCache access: include/iam/README.md); `dr_bucket` in `dr_region` receives a verified
    copy of the `.rdb` files, from which a cluster can be seeded there (SnapshotArns).
    """

    bucket: BucketName
    dr_bucket: BucketName | None = None
    dr_region: Region | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> CacheExport:
        if (self.dr_bucket is None) != (self.dr_region is None):
            raise ValueError("give both dr_bucket and dr_region, or neither")
        if self.dr_bucket is not None and self.dr_bucket == self.bucket:
            raise ValueError("dr_bucket must differ from bucket")
        return self


class CacheDrill(_Strict):
    """Create a replication group from the newest managed snapshot, check it, delete it."""

    schedule: Slug = "monthly-drill"
    node_type: str = Field("cache.t4g.small", min_length=1)
    rto: Duration = timedelta(hours=1)
    max_lifetime: Duration = timedelta(hours=3)
    # also seed a group in export.dr_region from the newest exported .rdb files there (SnapshotArns)
    from_dr_export: bool = False


class ElastiCachePolicy(_Strict):
    name: Slug
    description: str = ""
    tier: Slug
    region: Region | None = None
    resources: list[CacheResource] = Field(min_length=1)
    automatic_snapshots: AutomaticSnapshots | None = None
    retention: CacheRetention | None = None
    export: CacheExport | None = None
    drill: CacheDrill | None = None
    slack_channel: SlackChannel | None = None

    @model_validator(mode="after")
    def _unique(self) -> ElastiCachePolicy:
        ids = [r.id for r in self.resources]
        if len(set(ids)) != len(ids):
            raise ValueError(f"resources lists an id twice: {ids}")
        if self.drill is not None and self.resources[0].type != "replication_group":
            raise ValueError("drill: the first resource must be a replication_group (the drill restores it)")
        if (
            self.drill is not None
            and self.drill.from_dr_export
            and (self.export is None or not self.export.dr_bucket)
        ):
            raise ValueError(
                "drill.from_dr_export: true needs export.dr_bucket and export.dr_region (the drill seeds a "
                "group there from the exported .rdb files)"
            )
        return self


def cross_check(policies: list[ElastiCachePolicy], schedules: dict[str, object]) -> list[str]:
    """Problems with references to other sections (the tier must be a schedule; names unique)."""
    problems: list[str] = []
    names = [p.name for p in policies]
    for i, policy in enumerate(policies):
        if policy.tier not in schedules:
            problems.append(
                f"elasticache[{i}].tier: {policy.tier!r} is not defined under 'schedules' "
                f"(defined: {sorted(schedules)})"
            )
        if policy.drill is not None and policy.drill.schedule not in schedules:
            problems.append(
                f"elasticache[{i}].drill.schedule: {policy.drill.schedule!r} is not defined under "
                f"'schedules' (defined: {sorted(schedules)})"
            )
        if names.count(policy.name) > 1:
            problems.append(f"elasticache[{i}].name: {policy.name!r} is used twice; names must be unique")
    return problems
