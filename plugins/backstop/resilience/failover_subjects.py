"""What a failover drill fails over: a Multi-AZ DB instance or an Aurora DB cluster.

The drill (failover.py) is the same for both: preflight, probe, request, watch, events, checks,
verdict. What differs lives here, one class each: how to refuse (the environment guard reads
the instance's or the cluster's own tags), where a client connects, the call that fails it
over, what "moved" means and where its RDS events are.

- Instance: `RebootDBInstance(ForceFailover=true)`; moved = its AZ changed (the standby took over).
- Cluster: `FailoverDBCluster`; moved = another member is the writer (IsClusterWriter). Its AZ
  is the writer's AZ, reported beside it; two members in one AZ would fail over without an AZ
  change, so the writer is what counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backstop.policy.resilience_views import FailoverSpec


class DrillRefused(Exception):
    """The drill's preconditions do not hold; nothing was done."""


@dataclass(frozen=True)
class Position:
    """One look at the subject: its status, the (writer's) AZ, and the writer (clusters only)."""

    status: str | None
    az: str | None
    writer: str | None = None


class InstanceSubject:
    kind = "instance"

    def __init__(self, spec: FailoverSpec) -> None:
        self.spec = spec
        self.id = str(spec.instance_id)
        self.label = f"DB instance {self.id}"

    def preflight(self, client: Any) -> dict[str, Any]:
        from backstop.aws.rds_instances import describe_instance, instance_tags

        instance = describe_instance(client, self.id)
        if instance is None:
            raise DrillRefused(f"{self.label} does not exist in {self.spec.region}")
        problem = self.spec.guard.problem(self.label, instance_tags(instance, client))
        if problem:
            raise DrillRefused(problem)
        if not instance.get("MultiAZ"):
            raise DrillRefused(f"{self.label} is not Multi-AZ: there is no standby to fail over to")
        if instance.get("DBInstanceStatus") != "available":
            raise DrillRefused(f"{self.label} is {instance.get('DBInstanceStatus')!r}, not available")
        return instance

    def position_of(self, instance: dict[str, Any]) -> Position:
        return Position(instance.get("DBInstanceStatus"), instance.get("AvailabilityZone"))

    def position(self, client: Any) -> Position:
        from backstop.aws.rds_instances import describe_instance

        return self.position_of(describe_instance(client, self.id) or {})

    def probe_target(self, instance: dict[str, Any]) -> Any:
        from backstop.drills import dataplane

        return dataplane.restored_target(instance, self.spec.database)

    def request(self, client: Any) -> None:
        from backstop.aws.rds_failover import reboot_with_failover

        reboot_with_failover(client, self.id)

    @staticmethod
    def moved(before: Position, now: Position) -> bool:
        return bool(now.az) and now.az != before.az

    def events(self, client: Any, since: datetime) -> list[dict[str, Any]]:
        from backstop.aws.rds_failover import instance_events

        return instance_events(client, self.id, since)


class ClusterSubject:
    kind = "cluster"

    def __init__(self, spec: FailoverSpec) -> None:
        self.spec = spec
        self.id = str(spec.cluster_id)
        self.label = f"Aurora DB cluster {self.id}"

    def preflight(self, client: Any) -> dict[str, Any]:
        from backstop.aws.rds_failover import cluster_writer, describe_cluster
        from backstop.naming import from_tag_list

        cluster = describe_cluster(client, self.id)
        if cluster is None:
            raise DrillRefused(f"{self.label} does not exist in {self.spec.region}")
        tags = from_tag_list(cluster.get("TagList"))
        if "TagList" not in cluster:
            tags = from_tag_list(
                client.list_tags_for_resource(ResourceName=cluster["DBClusterArn"])["TagList"]
            )
        problem = self.spec.guard.problem(self.label, tags)
        if problem:
            raise DrillRefused(problem)
        members = cluster.get("DBClusterMembers") or []
        if len(members) < 2:
            raise DrillRefused(
                f"{self.label} has {len(members)} instance(s): there is no reader to fail over to"
            )
        if cluster.get("Status") != "available":
            raise DrillRefused(f"{self.label} is {cluster.get('Status')!r}, not available")
        if cluster_writer(cluster) is None:
            raise DrillRefused(f"{self.label} has no writer (no member with IsClusterWriter)")
        return cluster

    def position_of(self, cluster: dict[str, Any], client: Any = None) -> Position:
        from backstop.aws.rds_failover import cluster_writer
        from backstop.aws.rds_instances import describe_instance

        writer = cluster_writer(cluster)
        az = None
        if writer is not None and client is not None:
            az = (describe_instance(client, writer) or {}).get("AvailabilityZone")
        return Position(cluster.get("Status"), az, writer)

    def position(self, client: Any) -> Position:
        from backstop.aws.rds_failover import describe_cluster

        return self.position_of(describe_cluster(client, self.id) or {}, client)

    def probe_target(self, cluster: dict[str, Any]) -> Any:
        from backstop.drills import dataplane

        return dataplane.cluster_target(cluster, self.spec.database)

    def request(self, client: Any) -> None:
        from backstop.aws.rds_failover import fail_over_cluster

        fail_over_cluster(client, self.id)

    @staticmethod
    def moved(before: Position, now: Position) -> bool:
        return bool(now.writer) and now.writer != before.writer

    def events(self, client: Any, since: datetime) -> list[dict[str, Any]]:
        from backstop.aws.rds_failover import cluster_events

        return cluster_events(client, self.id, since)


def subject_of(spec: FailoverSpec) -> InstanceSubject | ClusterSubject:
    return ClusterSubject(spec) if spec.cluster_id else InstanceSubject(spec)
