"""ElastiCache (Redis) calls shared by operators and triggers: snapshots, replication groups, tags.

Functions take a boto3 `elasticache` client from the provider's ElastiCacheReplicationGroupHook
(the Airflow connection decides credentials, region, endpoint); nothing here special-cases the
emulator. ElastiCache's describe calls do not return tags: they are read per resource with
ListTagsForResource (snapshots carry their tags from CreateSnapshot's `Tags`).

A snapshot's create time is `NodeSnapshots[].SnapshotCreateTime` (the earliest node); a
snapshot without one (moto 5.2.5 returns none) falls back to the `backstop:created-at` tag
Backstop writes at creation, so the retention planner always has a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backstop.aws.errors import error_code
from backstop.naming import CREATED_AT_TAG, from_tag_list

ELASTICACHE_HOOK = (
    "airflow.providers.amazon.aws.hooks.elasticache_replication_group.ElastiCacheReplicationGroupHook"
)

SNAPSHOT_NOT_FOUND = frozenset({"SnapshotNotFoundFault"})
GROUP_NOT_FOUND = frozenset({"ReplicationGroupNotFoundFault"})
CLUSTER_NOT_FOUND = frozenset({"CacheClusterNotFound", "CacheClusterNotFoundFault"})
SNAPSHOT_EXISTS = frozenset({"SnapshotAlreadyExistsFault"})
GROUP_EXISTS = frozenset({"ReplicationGroupAlreadyExistsFault", "ReplicationGroupAlreadyExists"})
FAILED_SNAPSHOT_STATES = frozenset({"failed"})
FAILED_GROUP_STATES = frozenset({"create-failed"})
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class CacheSnapshot:
    name: str
    arn: str
    source_id: str  # replication group id, or cache cluster id
    status: str
    source: str  # "manual" | "automated"
    created_at: datetime | None
    tags: dict[str, str] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        return {
            "snapshot_name": self.name,
            "arn": self.arn,
            "source_id": self.source_id,
            "status": self.status,
            "snapshot_source": self.source,
            "created_at": self.created_at.strftime(TIME_FORMAT) if self.created_at else None,
        }


def _created_at(raw: dict[str, Any], tags: dict[str, str]) -> datetime | None:
    times = [n["SnapshotCreateTime"] for n in raw.get("NodeSnapshots") or () if n.get("SnapshotCreateTime")]
    if times:
        return min(times)
    value = tags.get(CREATED_AT_TAG)
    if value:
        try:
            return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


def tags_of(client: Any, arn: str) -> dict[str, str]:
    return from_tag_list(client.list_tags_for_resource(ResourceName=arn).get("TagList"))


def snapshot_from(client: Any, raw: dict[str, Any]) -> CacheSnapshot:
    tags = tags_of(client, raw["ARN"])
    return CacheSnapshot(
        name=raw["SnapshotName"],
        arn=raw["ARN"],
        source_id=raw.get("ReplicationGroupId") or raw.get("CacheClusterId") or "",
        status=raw.get("SnapshotStatus", ""),
        source=(raw.get("SnapshotSource") or "manual").lower(),
        created_at=_created_at(raw, tags),
        tags=tags,
    )


def describe_snapshot(client: Any, name: str) -> CacheSnapshot | None:
    """The snapshot with its tags, or None if there is none of that name."""
    try:
        found = client.describe_snapshots(SnapshotName=name)["Snapshots"]
    except Exception as exc:
        if error_code(exc) in SNAPSHOT_NOT_FOUND:
            return None
        raise
    return snapshot_from(client, found[0]) if found else None


def list_snapshots(client: Any, source_ids: set[str] | None = None) -> list[CacheSnapshot]:
    """Every snapshot (manual and automated) in the region, or of these sources, tags included.

    Lists the whole region and filters here: the snapshots of a deleted source are listed too.
    """
    result: list[CacheSnapshot] = []
    for page in client.get_paginator("describe_snapshots").paginate():
        for raw in page.get("Snapshots", []):
            if (
                source_ids is None
                or (raw.get("ReplicationGroupId") or raw.get("CacheClusterId")) in source_ids
            ):
                result.append(snapshot_from(client, raw))
    return result


def describe_source(client: Any, source_type: str, source_id: str) -> dict[str, Any] | None:
    """The replication group or cache cluster, or None when it does not exist."""
    try:
        if source_type == "replication_group":
            return client.describe_replication_groups(ReplicationGroupId=source_id)["ReplicationGroups"][0]
        return client.describe_cache_clusters(CacheClusterId=source_id)["CacheClusters"][0]
    except Exception as exc:
        if error_code(exc) in GROUP_NOT_FOUND | CLUSTER_NOT_FOUND:
            return None
        raise


def create_snapshot(
    client: Any, source_type: str, source_id: str, name: str, tags: dict[str, str]
) -> dict[str, Any]:
    key = "ReplicationGroupId" if source_type == "replication_group" else "CacheClusterId"
    return client.create_snapshot(
        SnapshotName=name, **{key: source_id}, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )["Snapshot"]


def delete_snapshot(client: Any, name: str) -> bool:
    """Delete one snapshot; False when it was already gone (idempotent)."""
    try:
        client.delete_snapshot(SnapshotName=name)
    except Exception as exc:
        if error_code(exc) in SNAPSHOT_NOT_FOUND:
            return False
        raise
    return True


def snapshot_status(client: Any, name: str) -> tuple[str, str]:
    """One look at a snapshot: ("success" | "failed" | "not_found" | "pending", message)."""
    snapshot = describe_snapshot(client, name)
    if snapshot is None:
        return "not_found", f"snapshot {name} not found"
    if snapshot.status == "available":
        return "success", f"snapshot {name} is available"
    if snapshot.status in FAILED_SNAPSHOT_STATES:
        return "failed", f"snapshot {name} is {snapshot.status}"
    return "pending", f"snapshot {name} is {snapshot.status}"


def describe_group(client: Any, group_id: str) -> dict[str, Any] | None:
    return describe_source(client, "replication_group", group_id)


def group_state(client: Any, group_id: str, target: str = "available") -> tuple[str, str]:
    """One look at a replication group against `target` ("available" | "deleted").

    "deleted" is reached when the group is gone or `deleting` (ElastiCache accepted the delete
    and removes it; nothing can stop it now).
    """
    group = describe_group(client, group_id)
    if group is None:
        if target == "deleted":
            return "success", f"replication group {group_id} is gone"
        return "not_found", f"replication group {group_id} not found"
    status = group.get("Status", "")
    if target == "deleted":
        if status == "deleting":
            return "success", f"replication group {group_id} is deleting"
        return "pending", f"replication group {group_id} is {status}"
    if status == "available":
        return "success", f"replication group {group_id} is available"
    if status in FAILED_GROUP_STATES or status == "deleting":
        return "failed", f"replication group {group_id} is {status}"
    return "pending", f"replication group {group_id} is {status}"


def create_group_from_snapshot(
    client: Any,
    group_id: str,
    snapshot: dict[str, Any],
    node_type: str,
    tags: dict[str, str],
    network: dict[str, Any],
) -> dict[str, Any]:
    """A new replication group seeded from a snapshot (the seed's restore path), tagged at creation."""
    kwargs: dict[str, Any] = {
        "ReplicationGroupId": group_id,
        "ReplicationGroupDescription": f"Backstop restore of snapshot {snapshot['SnapshotName']}",
        "SnapshotName": snapshot["SnapshotName"],
        "CacheNodeType": node_type,
        "Engine": snapshot.get("Engine") or "redis",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        **network,
    }
    if snapshot.get("EngineVersion"):
        kwargs["EngineVersion"] = snapshot["EngineVersion"]
    if (snapshot.get("NumNodeGroups") or 1) > 1:
        kwargs["NumNodeGroups"] = snapshot["NumNodeGroups"]
        kwargs["ClusterMode"] = "enabled"
    return client.create_replication_group(**kwargs)["ReplicationGroup"]


def source_network(client: Any, group: dict[str, Any]) -> dict[str, Any]:
    """The source's subnet group and security groups (a restore otherwise lands in the defaults)."""
    for member in group.get("MemberClusters") or ():
        try:
            cluster = client.describe_cache_clusters(CacheClusterId=member)["CacheClusters"][0]
        except Exception as exc:
            if error_code(exc) in CLUSTER_NOT_FOUND:
                continue
            raise
        network: dict[str, Any] = {}
        if cluster.get("CacheSubnetGroupName"):
            network["CacheSubnetGroupName"] = cluster["CacheSubnetGroupName"]
        groups = [
            g["SecurityGroupId"] for g in cluster.get("SecurityGroups") or () if g.get("SecurityGroupId")
        ]
        if groups:
            network["SecurityGroupIds"] = groups
        return network
    return {}


def delete_group(client: Any, group_id: str) -> bool:
    """Delete a replication group (no final snapshot); False when it was already gone."""
    try:
        client.delete_replication_group(ReplicationGroupId=group_id, RetainPrimaryCluster=False)
    except Exception as exc:
        if error_code(exc) in GROUP_NOT_FOUND:
            return False
        raise
    return True
