"""Seed the ElastiCache and S3 parts of the TriFlow fleet (aws-production-infra-guide.md).

- `triflow-ai-redis`: Redis 7, cluster mode, 2 shards with 1 replica each, automatic
  snapshots kept 5 days in the window 17:00-18:00 UTC (02:00-03:00 KST, dr-plan-triflow.md);
- `triflow-ai-files`: the versioned files bucket, with objects that have older versions
  (scenario 5 restores from them), and `triflow-ai-files-backup`, the dated backup bucket of
  Runbook 3 step 3.

Idempotent like the rest of include/local/fleet.py. Called from `seed_fleet`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

REDIS_GROUP = "triflow-ai-redis"
REDIS_NODE_TYPE = "cache.r7g.large"
REDIS_SNAPSHOT_RETENTION_DAYS = 5
REDIS_SNAPSHOT_WINDOW = "17:00-18:00"  # UTC = 02:00-03:00 KST
REDIS_EXPORT_BUCKET = "triflow-ai-redis-exports"  # same region as the snapshots (ElastiCache requires it)
REDIS_EXPORT_DR_BUCKET = "triflow-ai-redis-exports-dr"  # ap-northeast-1
FILES_BUCKET = "triflow-ai-files"
FILES_BACKUP_BUCKET = "triflow-ai-files-backup"
FILES_OBJECTS = {
    "uploads/workflows/wf-001.json": [b'{"id": "wf-001", "v": 1}', b'{"id": "wf-001", "v": 2}'],
    "uploads/workflows/wf-002.json": [b'{"id": "wf-002", "v": 1}'],
    "uploads/avatars/u-1.png": [b"\x89PNG-u1"],
    "frontend/index.html": [b"<html>triflow</html>"],
}


def seed_datastores(client_for: Any, region: str, project: str, dr_region: str) -> dict[str, Any]:
    """Create (or adopt) the Redis group and the files buckets; returns a summary."""
    ec = client_for("elasticache", region)
    try:
        ec.create_replication_group(
            ReplicationGroupId=REDIS_GROUP,
            ReplicationGroupDescription="TriFlow Redis 7 (cluster mode): sessions, queues, cache",
            Engine="redis",
            EngineVersion="7.1",
            CacheNodeType=REDIS_NODE_TYPE,
            ClusterMode="enabled",
            NumNodeGroups=2,
            ReplicasPerNodeGroup=1,
            AutomaticFailoverEnabled=True,
            SnapshotRetentionLimit=REDIS_SNAPSHOT_RETENTION_DAYS,
            SnapshotWindow=REDIS_SNAPSHOT_WINDOW,
            Tags=[{"Key": "project", "Value": project}],
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "ReplicationGroupAlreadyExistsFault",
            "ReplicationGroupAlreadyExists",
        ):
            raise
    s3 = client_for("s3", region)
    for bucket, where in (
        (FILES_BUCKET, region),
        (FILES_BACKUP_BUCKET, region),
        (REDIS_EXPORT_BUCKET, region),
        (REDIS_EXPORT_DR_BUCKET, dr_region),
    ):
        client = s3 if where == region else client_for("s3", where)
        try:
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": where})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    existing = {o["Key"] for o in s3.list_objects_v2(Bucket=FILES_BUCKET).get("Contents", [])}
    for key, versions in FILES_OBJECTS.items():
        if key not in existing:
            for body in versions:
                s3.put_object(Bucket=FILES_BUCKET, Key=key, Body=body)
    return {
        "elasticache": {REDIS_GROUP: {"node_type": REDIS_NODE_TYPE, "shards": 2, "replicas": 1}},
        "files_buckets": [FILES_BUCKET, FILES_BACKUP_BUCKET],
        "export_buckets": [REDIS_EXPORT_BUCKET, REDIS_EXPORT_DR_BUCKET],
    }
