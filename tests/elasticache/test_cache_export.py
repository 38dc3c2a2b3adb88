"""Export of a managed ElastiCache snapshot to S3 and its verified DR-region copy.

moto 5.2.5 has no CopySnapshot: the local stack adds it (include/local/moto_emulation.py,
emulation), writing `<name>-<shard>.rdb` files as ElastiCache does. The operator's calls are
the AWS calls.
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.elasticache.export import CacheSnapshotExportOperator
from backstop.elasticache.snapshot import CacheSnapshotOperator
from include.local.fleet_datastores import REDIS_EXPORT_BUCKET, REDIS_EXPORT_DR_BUCKET, REDIS_GROUP

REGION, DR = "ap-northeast-2", "ap-northeast-1"
WHEN = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)


def _context() -> dict:
    return {"logical_date": WHEN, "run_id": "scheduled__2026-11-21T17:00:00+00:00", "dag_run": None}


def _export(snapshot: dict) -> dict:
    return CacheSnapshotExportOperator(
        task_id="export",
        snapshot=snapshot,
        bucket=REDIS_EXPORT_BUCKET,
        dr_bucket=REDIS_EXPORT_DR_BUCKET,
        dr_region=DR,
        region_name=REGION,
        waiter_delay=0,
        deferrable=False,
    ).execute(_context())


def test_a_managed_snapshot_is_exported_and_copied_to_the_dr_region_once(fleet, local_stack):
    snapshot = CacheSnapshotOperator(
        task_id="snapshot",
        source_type="replication_group",
        source_id=REDIS_GROUP,
        tier="daily",
        policy_name="triflow-redis-daily",
        timezone="Asia/Seoul",
        region_name=REGION,
        waiter_delay=0,
    ).execute(_context())
    name = snapshot["snapshot_name"]

    first = _export(snapshot)

    assert first["exported"] == [
        f"s3://{REDIS_EXPORT_BUCKET}/{name}-0001.rdb",
        f"s3://{REDIS_EXPORT_BUCKET}/{name}-0002.rdb",  # one file per shard
    ]
    assert [c["outcome"] for c in first["dr_copies"]] == ["copied", "copied"]
    dr = boto3.client("s3", region_name=DR, endpoint_url=local_stack.aws_endpoint_url)
    keys = [o["Key"] for o in dr.list_objects_v2(Bucket=REDIS_EXPORT_DR_BUCKET)["Contents"]]
    assert keys == [f"{name}-0001.rdb", f"{name}-0002.rdb"]

    again = _export(snapshot)
    assert [c["outcome"] for c in again["dr_copies"]] == ["adopted", "adopted"]


def test_an_unmanaged_snapshot_is_not_exported(fleet, local_stack):
    ec = boto3.client("elasticache", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)
    ec.create_snapshot(SnapshotName="dba-before-upgrade", ReplicationGroupId=REDIS_GROUP)

    with pytest.raises(AirflowFailException, match="not managed by Backstop"):
        _export({"snapshot_name": "dba-before-upgrade"})
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)
    assert s3.list_objects_v2(Bucket=REDIS_EXPORT_BUCKET).get("KeyCount", 0) == 0
