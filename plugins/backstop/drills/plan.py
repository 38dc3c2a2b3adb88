"""The restore plan: everything a drill or a manual restore decided before it creates anything.

The planners (`DrillPreflightOperator`, `ManualRestorePlanOperator`) return one, the other
steps (restore, wait, verify, copy-back, report) work from it, so the manual restore reuses
the drill's steps. It travels between tasks as XCom: `to_xcom()` gives plain JSON (times as
ISO 8601 UTC, no secrets: credentials are named, never held), `from_xcom()` reads it back.
How a plan is decided is in `backstop.drills.planning`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from backstop.drills.times import iso, parse_time, tag_time
from backstop.policy.drill_views import CheckSpec, RecoveryObjectives

RestoreKind = Literal["pitr", "dr_snapshot", "manual"]


@dataclass(frozen=True)
class SourceConfig:
    """What a restore must reproduce (network, parameters) and what parity compares, from the source."""

    instance_id: str
    arn: str | None = None
    status: str | None = None
    engine: str | None = None
    engine_version: str | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    port: int | None = None
    db_subnet_group: str | None = None
    vpc_security_group_ids: tuple[str, ...] = ()
    db_parameter_group: str | None = None
    option_group: str | None = None
    instance_create_time: datetime | None = None
    latest_restorable_time: datetime | None = None
    backup_retention_days: int | None = None

    @classmethod
    def of(cls, instance: Mapping[str, Any]) -> SourceConfig:
        """From a DescribeDBInstances item."""
        return cls(
            instance_id=instance["DBInstanceIdentifier"],
            arn=instance.get("DBInstanceArn"),
            status=instance.get("DBInstanceStatus"),
            engine=instance.get("Engine"),
            engine_version=instance.get("EngineVersion"),
            encrypted=bool(instance.get("StorageEncrypted")),
            kms_key_id=instance.get("KmsKeyId"),
            port=(instance.get("Endpoint") or {}).get("Port") or instance.get("DbInstancePort"),
            db_subnet_group=(instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            vpc_security_group_ids=tuple(
                g["VpcSecurityGroupId"]
                for g in instance.get("VpcSecurityGroups") or []
                if g.get("VpcSecurityGroupId")
            ),
            db_parameter_group=next(
                (g["DBParameterGroupName"] for g in instance.get("DBParameterGroups") or []), None
            ),
            option_group=next(
                (g["OptionGroupName"] for g in instance.get("OptionGroupMemberships") or []), None
            ),
            instance_create_time=instance.get("InstanceCreateTime"),
            latest_restorable_time=instance.get("LatestRestorableTime"),
            backup_retention_days=instance.get("BackupRetentionPeriod"),
        )

    def to_xcom(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "arn": self.arn,
            "status": self.status,
            "engine": self.engine,
            "engine_version": self.engine_version,
            "encrypted": self.encrypted,
            "kms_key_id": self.kms_key_id,
            "port": self.port,
            "db_subnet_group": self.db_subnet_group,
            "vpc_security_group_ids": list(self.vpc_security_group_ids),
            "db_parameter_group": self.db_parameter_group,
            "option_group": self.option_group,
            "instance_create_time": iso(self.instance_create_time),
            "latest_restorable_time": iso(self.latest_restorable_time),
            "backup_retention_days": self.backup_retention_days,
        }

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> SourceConfig:
        return cls(
            **{
                **data,
                "vpc_security_group_ids": tuple(data.get("vpc_security_group_ids") or ()),
                "instance_create_time": parse_time(data.get("instance_create_time")),
                "latest_restorable_time": parse_time(data.get("latest_restorable_time")),
            }
        )


@dataclass(frozen=True)
class SnapshotRef:
    """The DR-region snapshot a `dr_snapshot` drill restores."""

    snapshot_id: str
    arn: str
    created_at: datetime | None
    kms_key_id: str | None
    encrypted: bool

    def to_xcom(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "arn": self.arn,
            "created_at": iso(self.created_at),
            "kms_key_id": self.kms_key_id,
            "encrypted": self.encrypted,
        }

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any] | None) -> SnapshotRef | None:
        if not data:
            return None
        return cls(**{**data, "created_at": parse_time(data.get("created_at"))})


@dataclass(frozen=True)
class RestoreWindow:
    """The times a source can be restored to (UTC)."""

    earliest: datetime
    latest: datetime

    def __contains__(self, when: datetime) -> bool:
        return self.earliest <= when <= self.latest

    def to_xcom(self) -> dict[str, str | None]:
        return {"earliest": iso(self.earliest), "latest": iso(self.latest)}

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any] | None) -> RestoreWindow | None:
        if not data:
            return None
        return cls(parse_time(data["earliest"]), parse_time(data["latest"]))


@dataclass(frozen=True)
class RestorePlan:
    """One restore, decided: what, from where, into which instance, with which checks and tags."""

    name: str  # the drill's name, or the target instance id of a manual restore
    kind: RestoreKind
    source: str
    region: str  # the source's region (and of its credentials secret)
    restore_region: str  # where the restored instance is created
    database: str
    credentials_secret: str | None
    credentials_conn_id: str | None
    checks: tuple[CheckSpec, ...]
    objectives: RecoveryObjectives | None  # None: a manual restore measures nothing against targets
    instance_id: str
    instance_class: str
    started_at: datetime
    expires_at: datetime
    source_config: SourceConfig
    tags: Mapping[str, str]
    restore_point: datetime | None  # the time the restored data is from (a snapshot: its creation)
    notes: tuple[str, ...] = ()
    use_latest: bool = False  # pitr: UseLatestRestorableTime instead of restore_time
    restore_time: datetime | None = None  # pitr: the RestoreTime asked of RDS
    snapshot: SnapshotRef | None = None  # dr_snapshot: the snapshot restored
    window: RestoreWindow | None = None  # manual: the source's restorable window, for the report
    tables: tuple[str, ...] = ()  # manual: schema.table to copy back after approval

    def to_xcom(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "region": self.region,
            "restore_region": self.restore_region,
            "database": self.database,
            "credentials_secret": self.credentials_secret,
            "credentials_conn_id": self.credentials_conn_id,
            "checks": [c.to_xcom() for c in self.checks],
            "objectives": self.objectives.to_xcom() if self.objectives else None,
            "instance_id": self.instance_id,
            "instance_class": self.instance_class,
            "started_at": iso(self.started_at),
            "expires_at": tag_time(self.expires_at),
            "source_config": self.source_config.to_xcom(),
            "tags": dict(self.tags),
            "notes": list(self.notes),
            "restore_point": iso(self.restore_point),
            "use_latest": self.use_latest,
            "restore_time": iso(self.restore_time),
            "snapshot": self.snapshot.to_xcom() if self.snapshot else None,
            "window": self.window.to_xcom() if self.window else None,
            "tables": list(self.tables),
        }

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any] | None) -> RestorePlan | None:
        """The plan a planner returned, or None when there is none (the planner failed)."""
        if not data:
            return None
        return cls(
            name=data["name"],
            kind=data["kind"],
            source=data["source"],
            region=data["region"],
            restore_region=data["restore_region"],
            database=data["database"],
            credentials_secret=data.get("credentials_secret"),
            credentials_conn_id=data.get("credentials_conn_id"),
            checks=tuple(CheckSpec.from_xcom(c) for c in data.get("checks") or ()),
            objectives=RecoveryObjectives.from_xcom(data.get("objectives")),
            instance_id=data["instance_id"],
            instance_class=data["instance_class"],
            started_at=parse_time(data["started_at"]),
            expires_at=parse_time(data["expires_at"]),
            source_config=SourceConfig.from_xcom(data["source_config"]),
            tags=dict(data.get("tags") or {}),
            restore_point=parse_time(data.get("restore_point")),
            notes=tuple(data.get("notes") or ()),
            use_latest=bool(data.get("use_latest")),
            restore_time=parse_time(data.get("restore_time")),
            snapshot=SnapshotRef.from_xcom(data.get("snapshot")),
            window=RestoreWindow.from_xcom(data.get("window")),
            tables=tuple(data.get("tables") or ()),
        )

    @property
    def expected_encryption(self) -> tuple[bool, str | None]:
        """(encrypted, KMS key) the restored instance must have: the snapshot's, else the source's."""
        if self.snapshot is not None:
            return self.snapshot.encrypted, self.snapshot.kms_key_id
        return self.source_config.encrypted, self.source_config.kms_key_id
