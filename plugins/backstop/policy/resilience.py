"""The `resilience:` policy section: failover, ECS task-loss and quarterly rebuild drills.

These drills break things on purpose (a forced failover, a stopped task), so the section
carries the environment guard: every drill refuses a resource not tagged
`<environment_tag>=<allowed_environment>` (staging), and `allowed_environment` itself may not
name production. Cross-references to the rest of the policy (schedules, Terraform projects,
restore drills) are checked by `cross_check`, called from `BackupPolicy`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backstop.policy.fields import Duration, RdsIdentifier, Region, Slug, matching
from backstop.policy.parts import DataCheck, Drill


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


EcsName = Annotated[
    str,
    matching(
        re.compile(r"^[A-Za-z0-9_-]{1,255}$|^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:[a-z-]+/.+$"),
        "an ECS cluster or service name",
        "letters, digits, '-' and '_' (up to 255), or an ECS ARN",
    ),
]
ConfigDir = Annotated[
    str,
    matching(
        re.compile(r"^(?![/\\~])(?![A-Za-z]:)(?!(.*[/\\])?\.\.([/\\]|$)).+$"),
        "a safe Terraform configuration folder",
        "a folder relative to the project root, with no '..' segment and not absolute",
    ),
]


class Probe(_Strict):
    """The client's view of a failover: `sql` run on a fresh connection every `interval`."""

    sql: str = Field(default="SELECT 1", min_length=1)
    interval: Duration = timedelta(seconds=1)
    database: str = "triflow"
    credentials_secret: str | None = None
    credentials_conn_id: str | None = None

    @model_validator(mode="after")
    def _one_credential_source(self) -> Probe:
        if (self.credentials_secret is None) == (self.credentials_conn_id is None):
            raise ValueError("give exactly one of credentials_secret or credentials_conn_id")
        if self.interval > timedelta(seconds=30):
            raise ValueError(f"interval {self.interval} is too coarse to measure downtime; at most 30s")
        return self


class FailoverDrill(_Strict):
    """Seed Test 1: fail over a Multi-AZ instance or an Aurora cluster, measured from both sides.

    `id` names a Multi-AZ DB instance (reboot with forced failover); `cluster` names an Aurora
    DB cluster (FailoverDBCluster: a reader becomes the writer). Exactly one of the two.
    """

    name: Slug
    id: RdsIdentifier | None = None  # a Multi-AZ DB instance
    cluster: RdsIdentifier | None = None  # or an Aurora DB cluster (at least one reader)
    region: Region | None = None
    target: Duration = timedelta(minutes=3)  # control plane: failover requested -> available in the new AZ
    max_client_downtime: Duration | None = None  # default: `target`
    timeout: Duration = timedelta(minutes=15)
    probe: Probe
    checks: list[DataCheck] = []  # run after the failover, with the probe's credentials

    @model_validator(mode="after")
    def _one_resource(self) -> FailoverDrill:
        if (self.id is None) == (self.cluster is None):
            given = "both" if self.id is not None else "neither"
            raise ValueError(
                f"give exactly one of id (a Multi-AZ DB instance) or cluster (an Aurora DB cluster); "
                f"{given} given"
            )
        return self

    @model_validator(mode="after")
    def _unique_checks(self) -> FailoverDrill:
        names = [c.name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"check names must be unique: {names}")
        return self


class TaskLossDrill(_Strict):
    """Seed Test 2: stop one running task of a service, measure until it is whole again."""

    name: Slug
    cluster: EcsName
    service: EcsName
    region: Region | None = None
    target: Duration = timedelta(minutes=3)
    timeout: Duration = timedelta(minutes=15)
    target_group_arn: str | None = None  # when set, its targets must be healthy again too
    allow_single_task: bool = False  # a service of desired count 1 is refused unless this is true
    poll_interval: Duration = timedelta(seconds=5)


class RebuildDrill(_Strict):
    """Seed Test 4: state backup -> scratch `terraform plan` (drift), DR snapshot restore, checks."""

    name: Slug
    terraform_project: Slug  # a terraform_state.projects name: its newest backup is restored
    workspace: str = "default"
    config_dir: ConfigDir  # the Terraform code the state must match
    restore: Drill  # the data half: a restore drill of kind dr_snapshot (its own checks and credentials)
    target: Duration = timedelta(hours=4)

    @model_validator(mode="after")
    def _restores_a_dr_copy(self) -> RebuildDrill:
        if self.restore.kind != "dr_snapshot":
            raise ValueError(
                f"restore.kind is {self.restore.kind!r}; a rebuild restores the newest DR-region copy "
                "(kind: dr_snapshot with dr_region)"
            )
        return self


class ResilienceDrills(_Strict):
    allowed_environment: str = "staging"
    environment_tag: str = "environment"
    schedule: Slug = "monthly-drill"  # failover and task-loss drills (seed: first Sunday 03:00)
    rebuild_schedule: Slug = "quarterly-rebuild"  # seed: quarterly, Saturday night
    failover: list[FailoverDrill] = []
    task_loss: list[TaskLossDrill] = []
    rebuild: list[RebuildDrill] = []

    @field_validator("allowed_environment")
    @classmethod
    def _never_production(cls, value: str) -> str:
        if re.search(r"prod", value, re.IGNORECASE):
            raise ValueError(
                f"{value!r} looks like production; resilience drills break things on purpose and run "
                "only against a non-production environment such as 'staging'"
            )
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> ResilienceDrills:
        names = [d.name for d in (*self.failover, *self.task_loss, *self.rebuild)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"drill names must be unique across failover, task_loss and rebuild: {repeated}")
        return self


def cross_check(policy: Any) -> list[str]:  # the BackupPolicy (model.py imports this module)
    """Problems between `resilience:` and the rest of the policy (each naming its key path)."""
    section = policy.resilience
    if section is None:
        return []
    problems = []
    defined = sorted(policy.schedules)
    if (section.failover or section.task_loss) and section.schedule not in policy.schedules:
        problems.append(
            f"resilience.schedule: {section.schedule!r} is not defined under 'schedules' (defined: {defined})"
        )
    if section.rebuild and section.rebuild_schedule not in policy.schedules:
        problems.append(
            f"resilience.rebuild_schedule: {section.rebuild_schedule!r} is not defined under 'schedules' "
            f"(defined: {defined})"
        )
    projects = [p.name for p in policy.terraform_state.projects] if policy.terraform_state else []
    for i, rebuild in enumerate(section.rebuild):
        if rebuild.terraform_project not in projects:
            problems.append(
                f"resilience.rebuild[{i}].terraform_project: {rebuild.terraform_project!r} is not a "
                f"terraform_state project (defined: {projects})"
            )
    return problems
