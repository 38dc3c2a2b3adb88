"""The typed policy models: every key of include/backup_policy.yaml, its type and its checks.

Unknown keys are errors: a typo must never silently disable a backup. Loading, error
rendering and the CLI are in `backstop.policy.loader`; parse-time views in `.views`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from backstop.policy.bunker import BunkerSettings
from backstop.policy.bunker import cross_check as bunker_cross_check
from backstop.policy.dynamodb import DynamoDbPolicy, dynamodb_problems
from backstop.policy.elasticache import ElastiCachePolicy
from backstop.policy.elasticache import cross_check as elasticache_cross_check
from backstop.policy.fields import (
    BucketName,
    Cron,
    Duration,
    RdsIdentifier,
    Region,
    SlackChannel,
    Slug,
    TimeZone,
    bounded_int,
    longest_gap,
    matching,
    next_fires,
)
from backstop.policy.freshness import FreshnessSettings

# Re-exported ("X as X"): `from backstop.policy.model import Drill, DataCheck, ...` keeps working.
from backstop.policy.parts import DataCheck as DataCheck
from backstop.policy.parts import Drill as Drill
from backstop.policy.parts import KeepRule as KeepRule
from backstop.policy.parts import Objectives as Objectives
from backstop.policy.parts import RetentionPolicy as RetentionPolicy
from backstop.policy.parts import _Strict
from backstop.policy.resilience import ResilienceDrills
from backstop.policy.resilience import cross_check as resilience_cross_check
from backstop.policy.s3 import S3Policy
from backstop.policy.s3 import cross_check as s3_cross_check

# --- the model ---------------------------------------------------------------------------


class SlackSettings(_Strict):
    """Where failure alerts and summaries go; the token is the connection's password."""

    conn_id: str = "slack_api_default"
    channel: SlackChannel


class RetrySettings(_Strict):
    """Task retries; the delay doubles after each try up to `max_delay`."""

    count: bounded_int(0, 10) = 2
    delay: Duration = timedelta(minutes=5)
    exponential_backoff: bool = True
    max_delay: Duration = timedelta(hours=1)


class Defaults(_Strict):
    """Settings every pipeline inherits unless a policy overrides them."""

    timezone: TimeZone = "UTC"
    aws_conn_id: str = "aws_default"
    region: Region
    owner: str = "backstop"
    report_bucket: BucketName
    slack: SlackSettings
    retries: RetrySettings = RetrySettings()
    deferrable: bool = True
    # RDS's default quota of manual DB snapshots per region. moto does not implement
    # DescribeAccountAttributes and on AWS it is adjustable, so the policy states it.
    manual_snapshot_quota: bounded_int(1, 100_000) = 100
    # Tolerated clock skew: a snapshot created further in the future aborts retention_prune.
    clock_skew_tolerance: Duration = timedelta(minutes=5)
    # The schedule (a key of `schedules`) of the retention_prune DAG.
    retention_schedule: Slug = "daily"


class Schedule(_Strict):
    """A backup tier's cadence: cron in the defaults' time zone."""

    cron: Cron
    description: str = ""
    # Longest acceptable gap between two good backups of this tier: older newest backup = halt
    # pruning (and alert). Never off: when omitted it is the cron's longest gap plus one day.
    max_age: Duration

    @model_validator(mode="before")
    @classmethod
    def _default_max_age(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("max_age") is None and isinstance(data.get("cron"), str):
            if next_fires(data["cron"], 1):
                return {**data, "max_age": longest_gap(data["cron"]) + timedelta(days=1)}
        return data


class TagSelector(_Strict):
    tags: dict[str, str] = Field(min_length=1)


class ProtectedResource(_Strict):
    """One RDS instance or Aurora cluster, named by id or found by tags at run time."""

    type: Literal["rds_instance", "aurora_cluster"]
    id: RdsIdentifier | None = None
    selector: TagSelector | None = None

    @model_validator(mode="after")
    def _id_or_selector(self) -> ProtectedResource:
        if (self.id is None) == (self.selector is None):
            raise ValueError("give exactly one of 'id' (a resource identifier) or 'selector' (tags to match)")
        return self


class DrRegion(_Strict):
    """A disaster-recovery region that receives copies, with the KMS key to encrypt them.

    The key is required: an encrypted snapshot can only be copied across regions with a key
    in the destination region, and the policy cannot know at parse time which sources are
    encrypted. (An unencrypted source copied with a key becomes encrypted, which is fine.)
    """

    region: Region
    kms_key_id: str = Field(min_length=1)


class SnapshotPolicy(_Strict):
    """A group of resources snapshotted on one tier's schedule."""

    name: Slug
    description: str = ""
    tier: Slug
    region: Region | None = None
    resources: list[ProtectedResource] = Field(min_length=1)
    dr_regions: list[DrRegion] = []
    slack_channel: SlackChannel | None = None
    objectives: Objectives | None = None
    # None = never prune this policy's snapshots (retention_prune refuses rather than guesses)
    retention: RetentionPolicy | None = None

    @model_validator(mode="after")
    def _no_duplicate_resources(self) -> SnapshotPolicy:
        seen: set[tuple[str, str]] = set()
        for resource in self.resources:
            if resource.id is None:
                continue
            key = (resource.type, resource.id)
            if key in seen:
                raise ValueError(f"resource {resource.type} {resource.id!r} is listed twice")
            seen.add(key)
        regions = [d.region for d in self.dr_regions]
        if len(set(regions)) != len(regions):
            raise ValueError(f"dr_regions lists a region twice: {regions}")
        return self


class ObjectLock(_Strict):
    """S3 Object Lock retention applied to every backup object (seed: 30 days)."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    days: bounded_int(1, 36_500)


class VaultReplica(_Strict):
    """The copy of the vault in the DR region."""

    bucket: BucketName
    region: Region
    kms_key_id: str | None = None


class TerraformVault(_Strict):
    """Where Terraform state backups are written: `<prefix>/<project>/<workspace>/<date>/`.

    `prefix` is relative to the bucket: no leading '/', no '.' or '..' segment (a key with
    '..' could be read as another folder by a tool that normalises paths).
    """

    bucket: BucketName
    region: Region | None = None
    prefix: Annotated[
        str,
        matching(
            re.compile(r"^(?!\.\.?(/|$))[A-Za-z0-9._-]+(/(?!\.\.?(/|$))[A-Za-z0-9._-]+)*$"),
            "a safe vault prefix",
            "'/'-separated names of letters, digits, '.', '_', '-', relative to the bucket, "
            "with no '.' or '..' segment",
        ),
    ] = "terraform-state"
    kms_key_id: str | None = None
    object_lock: ObjectLock = ObjectLock(days=30)
    dr: VaultReplica | None = None


class S3BackendSource(_Strict):
    """State kept by Terraform's S3 backend: `key`, plus every workspace under `env:/`."""

    type: Literal["s3_backend"]
    bucket: BucketName
    key: str = Field(min_length=1)
    region: Region | None = None
    workspace_key_prefix: str = "env:"


class WorkingDirSource(_Strict):
    """A Terraform working directory read with `terraform state pull` (relative to the repo root).

    `path` must stay inside the project: relative, no '..' segment. Workspace names are
    anything Terraform accepts except '.', '..', '/', '\\' and control characters (they
    become part of vault keys and of local restore paths).
    """

    type: Literal["working_dir"]
    path: Annotated[
        str,
        matching(
            re.compile(r"^(?![/\\~])(?![A-Za-z]:)(?!(.*[/\\])?\.\.([/\\]|$)).+$"),
            "a safe working directory",
            "a folder relative to the project root, with no '..' segment and not absolute",
        ),
    ]
    workspaces: list[
        Annotated[
            str,
            matching(
                re.compile(r"^(?!\.\.?$)[^/\\\x00-\x1f\x7f]{1,90}$"),
                "a safe Terraform workspace name",
                "a name Terraform accepts other than '.' or '..', without '/', '\\' or control characters",
            ),
        ]
    ] = ["default"]


class TerraformProject(_Strict):
    name: Slug
    source: Annotated[S3BackendSource | WorkingDirSource, Field(discriminator="type")]


class TerraformStatePolicy(_Strict):
    """Daily Terraform state backups (Runbook 3: a lost state blocks rebuilding)."""

    schedule: Slug
    vault: TerraformVault
    projects: list[TerraformProject] = Field(min_length=1)
    #: where `terraform_state_restore` may write local files; None: $AIRFLOW_HOME/backstop-restore
    #: on the worker (see backstop.tfstate.localfile). Absolute, no '..' segment.
    restore_root: (
        Annotated[
            str,
            matching(
                re.compile(r"^/(?!(.*/)?\.\.(/|$)).*$"),
                "a safe restore root",
                "an absolute folder with no '..' segment, e.g. /usr/local/airflow/backstop-restore",
            ),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _unique_projects(self) -> TerraformStatePolicy:
        names = [p.name for p in self.projects]
        if len(set(names)) != len(names):
            raise ValueError(f"project names must be unique: {names}")
        if self.vault.dr is not None and self.vault.dr.bucket == self.vault.bucket:
            raise ValueError("vault.dr.bucket must differ from vault.bucket")
        return self


class BackupPolicy(_Strict):
    """The whole policy file."""

    version: Literal[1]
    defaults: Defaults
    schedules: dict[Slug, Schedule] = Field(min_length=1)
    rds_snapshots: list[SnapshotPolicy] = []
    terraform_state: TerraformStatePolicy | None = None
    drills: list[Drill] = []
    freshness: FreshnessSettings = FreshnessSettings()
    dynamodb: list[DynamoDbPolicy] = []
    resilience: ResilienceDrills | None = None  # backstop.policy.resilience
    elasticache: list[ElastiCachePolicy] = []
    s3: S3Policy | None = None
    bunker: BunkerSettings | None = None  # backstop.policy.bunker: copies in a backup account

    @model_validator(mode="after")
    def _cross_references(self) -> BackupPolicy:
        data_stores = elasticache_cross_check(self.elasticache, self.schedules) + s3_cross_check(
            self.s3, self.schedules
        )
        if data_stores:
            raise ValueError("\n".join(data_stores))
        names = [p.name for p in self.rds_snapshots]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rds_snapshots: policy names must be unique; repeated: {duplicates}")
        for policy in self.rds_snapshots:
            if policy.tier not in self.schedules:
                raise ValueError(
                    f"rds_snapshots[{names.index(policy.name)}].tier: {policy.tier!r} is not defined under "
                    f"'schedules' (defined: {sorted(self.schedules)})"
                )
            region = policy.region or self.defaults.region
            if region in [d.region for d in policy.dr_regions]:
                raise ValueError(
                    f"rds_snapshots[{names.index(policy.name)}].dr_regions: includes the source region {region!r}"
                )
        if self.defaults.retention_schedule not in self.schedules and any(
            p.retention for p in self.rds_snapshots
        ):
            raise ValueError(
                f"defaults.retention_schedule: {self.defaults.retention_schedule!r} is not defined under "
                f"'schedules' (defined: {sorted(self.schedules)})"
            )
        for i, drill in enumerate(self.drills):
            if drill.schedule not in self.schedules:
                raise ValueError(
                    f"drills[{i}].schedule: {drill.schedule!r} is not defined under 'schedules' "
                    f"(defined: {sorted(self.schedules)})"
                )
        problems = self._databases_in_two_policies() + self._drill_regions_without_copies()
        problems += dynamodb_problems(self)
        problems += resilience_cross_check(self)
        problems += bunker_cross_check(self)
        if problems:
            raise ValueError("\n".join(problems))
        drill_names = [d.name for d in self.drills]
        if len(set(drill_names)) != len(drill_names):
            raise ValueError(f"drills: names must be unique; got {drill_names}")
        if self.terraform_state is not None and self.terraform_state.schedule not in self.schedules:
            raise ValueError(
                f"terraform_state.schedule: {self.terraform_state.schedule!r} is not defined under "
                f"'schedules' (defined: {sorted(self.schedules)})"
            )
        return self

    def _databases_in_two_policies(self) -> list[str]:
        """A database named in two policies of one tier: the second would be dropped at run time."""
        owner: dict[tuple[str, str, str, str], str] = {}
        problems = []
        for i, policy in enumerate(self.rds_snapshots):
            for j, resource in enumerate(policy.resources):
                if resource.id is None:
                    continue
                key = (policy.tier, policy.region or self.defaults.region, resource.type, resource.id)
                if key in owner:
                    problems.append(
                        f"rds_snapshots[{i}].resources[{j}]: {resource.type} {resource.id!r} is already "
                        f"protected by policy {owner[key]!r} on the {policy.tier!r} tier; a database belongs "
                        f"to one policy per tier (move it, or merge {owner[key]!r} and {policy.name!r})"
                    )
                else:
                    owner[key] = policy.name
        return problems

    def _drill_regions_without_copies(self) -> list[str]:
        """A DR drill must restore a copy that some policy makes, from another region."""
        problems = []
        for i, drill in enumerate(self.drills):
            if drill.kind != "dr_snapshot" or drill.dr_region is None:
                continue
            source_region = drill.region or self.defaults.region
            if drill.dr_region == source_region:
                problems.append(
                    f"drills[{i}].dr_region: {drill.dr_region!r} is the drill's source region; a DR drill "
                    "must restore a copy held in another region"
                )
                continue
            copied = any(
                (policy.region or self.defaults.region) == source_region
                and drill.dr_region in [d.region for d in policy.dr_regions]
                and any(r.id in (drill.source, None) and r.type == "rds_instance" for r in policy.resources)
                for policy in self.rds_snapshots
            )
            if not copied:
                problems.append(
                    f"drills[{i}].dr_region: no rds_snapshots policy copies {drill.source!r} from "
                    f"{source_region} to {drill.dr_region}; add {drill.dr_region} to the dr_regions of "
                    "the policy that protects it"
                )
        return problems

    # --- views the DAG files use -------------------------------------------------------

    def snapshot_tiers(self) -> list[str]:
        """Tiers that have at least one snapshot policy, in schedule order."""
        used = {p.tier for p in self.rds_snapshots}
        return [tier for tier in self.schedules if tier in used]

    def policies_for_tier(self, tier: str) -> list[SnapshotPolicy]:
        return [p for p in self.rds_snapshots if p.tier == tier]

    def region_of(self, policy: SnapshotPolicy) -> str:
        return policy.region or self.defaults.region

    def channel_of(self, policy: SnapshotPolicy | None = None) -> str:
        if policy is not None and policy.slack_channel:
            return policy.slack_channel
        return self.defaults.slack.channel


# The resilience section uses DataCheck, so it is defined after it and bound in here.

BackupPolicy.model_rebuild()
