"""RDS calls of the failover drill: the forced failover (instance or Aurora cluster) and events.

Functions take a boto3 RDS client made by the provider's RdsHook.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

CLUSTER_NOT_FOUND_CODES = frozenset({"DBClusterNotFoundFault", "DBClusterNotFound"})


def reboot_with_failover(client: Any, instance_id: str) -> dict[str, Any]:
    """RebootDBInstance with ForceFailover: the standby is promoted (Multi-AZ instances only)."""
    return client.reboot_db_instance(DBInstanceIdentifier=instance_id, ForceFailover=True)["DBInstance"]


def fail_over_cluster(client: Any, cluster_id: str) -> dict[str, Any]:
    """FailoverDBCluster: RDS promotes a reader (its choice, by promotion tier) to writer."""
    return client.failover_db_cluster(DBClusterIdentifier=cluster_id)["DBCluster"]


def describe_cluster(client: Any, cluster_id: str) -> dict[str, Any] | None:
    """The DescribeDBClusters item for this identifier, or None when it does not exist."""
    from backstop.aws.rds_snapshots import error_code

    try:
        items = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    except Exception as exc:
        if error_code(exc) in CLUSTER_NOT_FOUND_CODES:
            return None
        raise
    return items[0] if items else None


def cluster_writer(cluster: dict[str, Any]) -> str | None:
    """The member with IsClusterWriter, or None (a cluster with no writer right now)."""
    writers = [
        m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers") or [] if m.get("IsClusterWriter")
    ]
    return writers[0] if writers else None


def _events(client: Any, source_id: str, source_type: str, since: datetime) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in client.get_paginator("describe_events").paginate(
        SourceIdentifier=source_id, SourceType=source_type, StartTime=since
    ):
        events.extend(page.get("Events") or [])
    # StartTime is applied again here: an emulator that ignores it must not pass an old failover off as new
    return sorted((e for e in events if e["Date"] >= since), key=lambda e: e["Date"])


def instance_events(client: Any, instance_id: str, since: datetime) -> list[dict[str, Any]]:
    """The instance's events since `since`, oldest first (Date, Message, EventCategories)."""
    return _events(client, instance_id, "db-instance", since)


def cluster_events(client: Any, cluster_id: str, since: datetime) -> list[dict[str, Any]]:
    """The cluster's events since `since`, oldest first ("Started cross AZ failover to ...")."""
    return _events(client, cluster_id, "db-cluster", since)
