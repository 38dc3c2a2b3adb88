"""The resilience drills as the DAG files need them: plain frozen specs, computed at parse time.

Durations are seconds, regions filled in from the defaults, and every spec carries the
environment guard (`environment_tag`, `allowed_environment`), so operators never read the policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backstop.policy.drill_views import CheckSpec, DrillSpec, drill_spec
from backstop.policy.model import BackupPolicy


@dataclass(frozen=True)
class Guard:
    """Only resources tagged `tag=environment` may be drilled."""

    tag: str
    environment: str

    def problem(self, what: str, tags: dict[str, str]) -> str | None:
        """Why `what` may not be drilled, or None."""
        found = tags.get(self.tag)
        if found == self.environment:
            return None
        shown = f"{self.tag}={found}" if found is not None else f"no {self.tag} tag"
        return (
            f"{what} is tagged {shown}; resilience drills act only on resources tagged "
            f"{self.tag}={self.environment} (resilience.allowed_environment), so it was not touched"
        )


@dataclass(frozen=True)
class FailoverSpec:
    """A failover drill of one Multi-AZ instance (`instance_id`) or one Aurora cluster (`cluster_id`)."""

    name: str
    instance_id: str | None
    region: str
    target_seconds: float
    max_downtime_seconds: float
    timeout_seconds: float
    probe_sql: str
    probe_interval_seconds: float
    database: str
    credentials_secret: str | None
    credentials_conn_id: str | None
    checks: tuple[CheckSpec, ...]
    guard: Guard
    cluster_id: str | None = None

    @property
    def resource(self) -> str:
        return self.cluster_id or self.instance_id or "?"


@dataclass(frozen=True)
class TaskLossSpec:
    name: str
    cluster: str
    service: str
    region: str
    target_seconds: float
    timeout_seconds: float
    poll_interval_seconds: float
    target_group_arn: str | None
    allow_single_task: bool
    guard: Guard


@dataclass(frozen=True)
class RebuildSpec:
    name: str
    project: dict[str, Any]  # the terraform_state project (name, source)
    workspace: str
    config_dir: str
    vault: dict[str, Any]  # terraform_state.vault
    vault_region: str
    drill: DrillSpec  # its dr_snapshot restore, run by the restore drill's own operators
    target_seconds: float


def _guard(policy: BackupPolicy) -> Guard:
    section = policy.resilience
    assert section is not None
    return Guard(section.environment_tag, section.allowed_environment)


def failover_specs(policy: BackupPolicy) -> list[FailoverSpec]:
    section = policy.resilience
    if section is None:
        return []
    return [
        FailoverSpec(
            name=d.name,
            instance_id=d.id,
            region=d.region or policy.defaults.region,
            target_seconds=d.target.total_seconds(),
            max_downtime_seconds=(d.max_client_downtime or d.target).total_seconds(),
            timeout_seconds=d.timeout.total_seconds(),
            probe_sql=d.probe.sql,
            probe_interval_seconds=d.probe.interval.total_seconds(),
            database=d.probe.database,
            credentials_secret=d.probe.credentials_secret,
            credentials_conn_id=d.probe.credentials_conn_id,
            checks=tuple(CheckSpec.of(c) for c in d.checks),
            guard=_guard(policy),
            cluster_id=d.cluster,
        )
        for d in section.failover
    ]


def task_loss_specs(policy: BackupPolicy) -> list[TaskLossSpec]:
    section = policy.resilience
    if section is None:
        return []
    return [
        TaskLossSpec(
            name=d.name,
            cluster=d.cluster,
            service=d.service,
            region=d.region or policy.defaults.region,
            target_seconds=d.target.total_seconds(),
            timeout_seconds=d.timeout.total_seconds(),
            poll_interval_seconds=d.poll_interval.total_seconds(),
            target_group_arn=d.target_group_arn,
            allow_single_task=d.allow_single_task,
            guard=_guard(policy),
        )
        for d in section.task_loss
    ]


def rebuild_specs(policy: BackupPolicy) -> list[RebuildSpec]:
    section = policy.resilience
    if section is None or policy.terraform_state is None:
        return []
    projects = {p.name: p for p in policy.terraform_state.projects}
    vault = policy.terraform_state.vault
    return [
        RebuildSpec(
            name=d.name,
            project=projects[d.terraform_project].model_dump(),
            workspace=d.workspace,
            config_dir=d.config_dir,
            vault=vault.model_dump(),
            vault_region=vault.region or policy.defaults.region,
            drill=drill_spec(policy, d.restore),
            target_seconds=d.target.total_seconds(),
        )
        for d in section.rebuild
    ]
