"""The restore drills as the DAG files need them: typed specs computed at parse time, no I/O.

`drill_dags(policy)` groups the policy's `drills:` by schedule into the drill DAGs,
`restore_form(policy)` is what the manual restore form offers, `drill_regions(policy)` is
where the orphan sweeper looks. A `DrillSpec` is plain, frozen data (durations in seconds),
so operators take it as an argument and never read the policy themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from backstop.policy.model import BackupPolicy, DataCheck, Drill

DrillKind = Literal["pitr", "dr_snapshot"]


@dataclass(frozen=True)
class CheckSpec:
    """One data check on a restored database: its SQL and exactly one expectation."""

    name: str
    sql: str
    min_rows: int | None = None
    equals: str | int | float | bool | None = None
    max_age_seconds: float | None = None
    freshness: bool = False  # its timestamp is the newest committed row: the RPO basis

    @classmethod
    def of(cls, check: DataCheck) -> CheckSpec:
        return cls(
            name=check.name,
            sql=check.sql,
            min_rows=check.min_rows,
            equals=check.equals,
            max_age_seconds=check.max_age.total_seconds() if check.max_age else None,
            freshness=check.freshness,
        )

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> CheckSpec:
        return cls(**data)


@dataclass(frozen=True)
class RecoveryObjectives:
    """Recovery targets a drill is measured against, in seconds."""

    rto_seconds: float
    rpo_seconds: float

    def to_xcom(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any] | None) -> RecoveryObjectives | None:
        return cls(data["rto_seconds"], data["rpo_seconds"]) if data else None


@dataclass(frozen=True)
class DrillSpec:
    """One policy drill, resolved: regions filled in from the defaults, durations in seconds."""

    name: str
    kind: DrillKind
    source: str
    region: str  # the source's region
    restore_region: str  # dr_region for a dr_snapshot drill, else the source's region
    restore_offset_seconds: float | None  # pitr: how long before the drill starts; None = latest
    instance_class: str
    max_lifetime_seconds: float
    database: str
    credentials_secret: str | None
    credentials_conn_id: str | None
    checks: tuple[CheckSpec, ...]
    objectives: RecoveryObjectives
    timezone: str  # the policy's: the drill instance is named after the run's date there
    copy_back_tables: tuple[str, ...] = ()  # what the manual restore form offers to copy back


@dataclass(frozen=True)
class DrillDag:
    """One drill DAG: the drills that share a policy schedule."""

    dag_id: str
    schedule: str  # the policy schedule's name
    description: str
    drills: tuple[DrillSpec, ...]


@dataclass(frozen=True)
class RestoreForm:
    """What the manual restore form offers: each restorable source with its checks and credentials."""

    sources: dict[str, DrillSpec]  # source instance id -> the drill whose settings a restore of it uses

    @property
    def source_names(self) -> list[str]:
        return sorted(self.sources)

    @property
    def check_names(self) -> list[str]:
        return sorted({c.name for spec in self.sources.values() for c in spec.checks})

    @property
    def table_names(self) -> list[str]:
        """Every drill's copy_back_tables (empty: the form takes any schema.table)."""
        return sorted({t for spec in self.sources.values() for t in spec.copy_back_tables})


def drill_spec(policy: BackupPolicy, drill: Drill) -> DrillSpec:
    region = drill.region or policy.defaults.region
    return DrillSpec(
        name=drill.name,
        kind=drill.kind,
        source=drill.source,
        region=region,
        restore_region=drill.dr_region if drill.kind == "dr_snapshot" and drill.dr_region else region,
        restore_offset_seconds=drill.restore_offset.total_seconds() if drill.restore_offset else None,
        instance_class=drill.instance_class,
        max_lifetime_seconds=drill.max_lifetime.total_seconds(),
        database=drill.database,
        credentials_secret=drill.credentials_secret,
        credentials_conn_id=drill.credentials_conn_id,
        checks=tuple(CheckSpec.of(c) for c in drill.checks),
        objectives=RecoveryObjectives(
            drill.objectives.rto.total_seconds(), drill.objectives.rpo.total_seconds()
        ),
        timezone=policy.defaults.timezone,
        copy_back_tables=tuple(drill.copy_back_tables),
    )


def drill_dag_id(schedule: str) -> str:
    """`restore_drill_monthly` for the policy's `monthly-drill` schedule, else `restore_drill_<schedule>`."""
    return "restore_drill_monthly" if schedule == "monthly-drill" else f"restore_drill_{schedule}"


def drill_dags(policy: BackupPolicy) -> list[DrillDag]:
    """One DAG per schedule used by a drill, in schedule-name order; drills in policy order."""
    return [
        DrillDag(
            dag_id=drill_dag_id(schedule),
            schedule=schedule,
            description=policy.schedules[schedule].description or "Restore drills",
            drills=tuple(drill_spec(policy, d) for d in policy.drills if d.schedule == schedule),
        )
        for schedule in sorted({d.schedule for d in policy.drills})
    ]


def restore_form(policy: BackupPolicy) -> RestoreForm | None:
    """Every drill's source, restored with that drill's checks and credentials (a pitr drill's if any).

    None when the policy has no drills (then there is no form to offer).
    """
    sources: dict[str, DrillSpec] = {}
    for drill in policy.drills:
        if drill.kind == "pitr" or drill.source not in sources:
            sources[drill.source] = drill_spec(policy, drill)
    return RestoreForm(sources) if sources else None


def drill_regions(policy: BackupPolicy) -> list[str]:
    """Every region a drill instance can be in: each drill's source region and DR region."""
    regions = {d.region or policy.defaults.region for d in policy.drills}
    regions |= {d.dr_region for d in policy.drills if d.dr_region}
    return sorted(regions)


def sweeper_stores(policy: BackupPolicy) -> dict[str, list[str]]:
    """Where the orphan sweeper looks, per store: every region a drill of that store restores into.

    RDS drills (`drills:`), DynamoDB drills (the table's region; the DR region for `dr_export`)
    and ElastiCache drills (the policy's region). Stores without drills are left out.
    """
    dynamodb: set[str] = set()
    for item in policy.dynamodb:
        if item.drill is None:
            continue
        region = item.region or policy.defaults.region
        if set(item.drill.kinds) - {"dr_export"}:
            dynamodb.add(region)
        if "dr_export" in item.drill.kinds and item.drill.dr_region:
            dynamodb.add(item.drill.dr_region)
    elasticache = {p.region or policy.defaults.region for p in policy.elasticache if p.drill is not None}
    elasticache |= {
        p.export.dr_region
        for p in policy.elasticache
        if p.drill is not None and p.drill.from_dr_export and p.export is not None and p.export.dr_region
    }
    stores = {"rds": drill_regions(policy) if policy.drills else [], "dynamodb": sorted(dynamodb)}
    stores["elasticache"] = sorted(elasticache)
    return {name: regions for name, regions in stores.items() if regions}
