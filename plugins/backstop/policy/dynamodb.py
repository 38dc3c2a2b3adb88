"""The `dynamodb:` section of the policy: protected tables, PITR, backups, DR exports, drills.

One entry per group of tables sharing a schedule tier (seed, phase 9.1: PITR on, daily backups
kept 7 days / weekly 30 days / monthly 1 year, cross-region copies, RPO 5 min, RTO 30 min).
Cross-references to `schedules` and `defaults.region` are checked by `dynamodb_problems`, which
`BackupPolicy` calls, so every error still names its key path.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from backstop.policy.fields import BucketName, Duration, Region, SlackChannel, Slug, bounded_int, matching
from backstop.policy.parts import Objectives, RetentionPolicy, _Strict

# DynamoDB table names: 3-255 letters, digits, '_', '-', '.'.
TableName = Annotated[
    str,
    matching(
        re.compile(r"^[A-Za-z0-9_.-]{3,255}$"),
        "a valid DynamoDB table name",
        "3-255 letters, digits, '_', '-' or '.'",
    ),
]
KeyValue = (
    Annotated[str, Field(min_length=1, max_length=1024)] | Annotated[int, Field(ge=-(10**38), le=10**38)]
)


class DynamoDrRegion(_Strict):
    """A DR region: the table is exported (point-in-time export) to `bucket`, which lives there."""

    region: Region
    bucket: BucketName
    prefix: str = Field(default="dynamodb", pattern=r"^[A-Za-z0-9_.-]{1,100}$")


class ItemProbe(_Strict):
    """One check on a restored table.

    - `key` alone: the item with this primary key must exist;
    - `partition` + `min_count`: a Query on that partition key value returns at least `min_count` items;
    - `key` + `attribute` + `max_age`: the item's timestamp attribute (ISO 8601 or epoch seconds)
      is no older than `max_age` at the restore point; it is the freshness (RPO) probe.
    """

    name: Slug
    key: dict[str, KeyValue] | None = Field(default=None, min_length=1, max_length=2)
    partition: dict[str, KeyValue] | None = Field(default=None, min_length=1, max_length=1)
    min_count: bounded_int(1, 10**9) | None = None
    attribute: str | None = Field(default=None, min_length=1, max_length=255)
    max_age: Duration | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ItemProbe:
        if self.partition is not None:
            if self.key is not None or self.attribute is not None or self.max_age is not None:
                raise ValueError(f"probe {self.name!r}: a count probe takes only 'partition' and 'min_count'")
            if self.min_count is None:
                raise ValueError(
                    f"probe {self.name!r}: 'partition' needs 'min_count' (items the query must return)"
                )
            return self
        if self.key is None:
            raise ValueError(
                f"probe {self.name!r} needs 'key' (an item that must exist, or whose 'attribute' is fresh) "
                "or 'partition' with 'min_count' (a count by query)"
            )
        if self.min_count is not None:
            raise ValueError(f"probe {self.name!r}: 'min_count' goes with 'partition', not 'key'")
        if (self.attribute is None) != (self.max_age is None):
            raise ValueError(f"probe {self.name!r}: a freshness probe needs both 'attribute' and 'max_age'")
        return self

    @property
    def kind(self) -> str:
        if self.partition is not None:
            return "count"
        return "freshness" if self.attribute else "exists"


class DynamoDrill(_Strict):
    """Restore each protected table into a new table, probe it, measure RTO/RPO, delete it.

    `pitr`: restore to `restore_offset` ago; `backup`: the newest managed on-demand backup;
    `dr_export`: import the newest DR export in `dr_region` there.
    """

    schedule: Slug = "monthly-drill"
    kinds: list[Literal["pitr", "backup", "dr_export"]] = Field(default=["pitr", "backup"], min_length=1)
    dr_region: Region | None = None
    restore_offset: Duration = timedelta(minutes=5)
    max_lifetime: Duration = timedelta(hours=3)
    probes: list[ItemProbe] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> DynamoDrill:
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds lists a kind twice: {self.kinds}")
        if "dr_export" in self.kinds and self.dr_region is None:
            raise ValueError("a dr_export drill needs dr_region")
        names = [p.name for p in self.probes]
        if len(set(names)) != len(names):
            raise ValueError(f"probe names must be unique: {names}")
        if sum(p.kind == "freshness" for p in self.probes) > 1:
            raise ValueError("at most one probe can be the freshness (RPO) probe")
        return self


class DynamoDbPolicy(_Strict):
    """Tables backed up on one tier's schedule, with PITR, retention, DR exports and a drill."""

    name: Slug
    description: str = ""
    tier: Slug
    region: Region | None = None
    tables: list[TableName] = Field(min_length=1)
    # enable: turn PITR on where it is off (and say so); alert: fail the check and alert, change nothing
    pitr: Literal["enable", "alert"] = "enable"
    dr_regions: list[DynamoDrRegion] = []
    retention: RetentionPolicy | None = None  # None: never prune (refused, like rds_snapshots)
    objectives: Objectives | None = None
    slack_channel: SlackChannel | None = None
    drill: DynamoDrill | None = None

    @model_validator(mode="after")
    def _unique(self) -> DynamoDbPolicy:
        if len(set(self.tables)) != len(self.tables):
            raise ValueError(f"tables lists a table twice: {self.tables}")
        regions = [d.region for d in self.dr_regions]
        if len(set(regions)) != len(regions):
            raise ValueError(f"dr_regions lists a region twice: {regions}")
        if self.drill is not None and self.objectives is None:
            raise ValueError("a drill needs objectives (rpo, rto) to measure against")
        return self


def dynamodb_problems(policy: Any) -> list[str]:  # the BackupPolicy (model.py imports this module)
    """Cross-references of the `dynamodb` section, each as "key.path: message"."""
    problems: list[str] = []
    schedules = sorted(policy.schedules)
    owner: dict[tuple[str, str], str] = {}
    names = [p.name for p in policy.dynamodb]
    for i, item in enumerate(policy.dynamodb):
        where = f"dynamodb[{i}]"
        if names.count(item.name) > 1:
            problems.append(
                f"{where}.name: {item.name!r} is used by another dynamodb policy; names must be unique"
            )
        if item.tier not in policy.schedules:
            problems.append(
                f"{where}.tier: {item.tier!r} is not defined under 'schedules' (defined: {schedules})"
            )
        region = item.region or policy.defaults.region
        for j, dr in enumerate(item.dr_regions):
            if dr.region == region:
                problems.append(
                    f"{where}.dr_regions[{j}].region: {dr.region!r} is the source region; a DR copy must "
                    "be held in another region"
                )
        for j, table in enumerate(item.tables):
            if (region, table) in owner:
                problems.append(
                    f"{where}.tables[{j}]: table {table!r} in {region} is already protected by dynamodb "
                    f"policy {owner[region, table]!r}; a table belongs to one policy"
                )
            owner.setdefault((region, table), item.name)
        drill = item.drill
        if drill is None:
            continue
        if drill.schedule not in policy.schedules:
            problems.append(
                f"{where}.drill.schedule: {drill.schedule!r} is not defined under 'schedules' (defined: {schedules})"
            )
        if "dr_export" in drill.kinds and drill.dr_region not in [d.region for d in item.dr_regions]:
            problems.append(
                f"{where}.drill.dr_region: {drill.dr_region!r} is not one of this policy's dr_regions "
                f"({[d.region for d in item.dr_regions]}); the drill would import an export nobody makes"
            )
    return problems


# --- views for the DAG files (plain data, XCom- and serialization-safe) ------------------------
