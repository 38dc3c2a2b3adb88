"""The ElastiCache drill from a DR export file: a group seeded in the DR region from the .rdb files.

The export is made by the real export operator (the local stack's CopySnapshot emulation writes
one .rdb per shard) and copied to the DR bucket; the drill then creates the group in the DR
region with `SnapshotArns` naming those files. moto accepts SnapshotArns without reading the
files (it cannot load an .rdb), so the test checks what AWS is asked (a `provide-client-params`
hook records the call's parameters, changing nothing) and what exists afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.elasticache.drill import (
    CacheDrillRestoreOperator,
    CacheDrillTeardownOperator,
    CacheDrillVerifyOperator,
    CacheGroupWaitOperator,
)
from backstop.elasticache.export import CacheSnapshotExportOperator
from include.local.fleet_datastores import REDIS_EXPORT_BUCKET, REDIS_EXPORT_DR_BUCKET, REDIS_GROUP

REGION, DR = "ap-northeast-2", "ap-northeast-1"
REPORTS = "triflow-backstop-reports"
FIRST_SUNDAY_0300_KST = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
DRILL_GROUP = f"{REDIS_GROUP}-drill-20261206"
SNAPSHOT = f"{REDIS_GROUP}-daily-20261205"
COMMON = {
    "source_id": REDIS_GROUP,
    "drill_name": "triflow-redis-daily-drill-dr-export",
    "timezone": "Asia/Seoul",
}


@pytest.fixture
def aws(fleet, local_stack):
    return lambda service, region=REGION: boto3.client(
        service, region_name=region, endpoint_url=local_stack.aws_endpoint_url
    )


def _context() -> dict:
    return {
        "logical_date": FIRST_SUNDAY_0300_KST,
        "run_id": "scheduled__2026-12-05T18:00:00+00:00",
        "dag_run": SimpleNamespace(run_type="scheduled"),
        "params": {},
    }


def _export(aws) -> None:
    tags = {
        "backstop:managed": "true",
        "backstop:policy": "triflow-redis-daily",
        "backstop:source": REDIS_GROUP,
        "backstop:created-at": "2026-12-04T17:00:05Z",
    }
    aws("elasticache").create_snapshot(
        SnapshotName=SNAPSHOT,
        ReplicationGroupId=REDIS_GROUP,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    CacheSnapshotExportOperator(
        task_id="export",
        snapshot={"snapshot_name": SNAPSHOT},
        bucket=REDIS_EXPORT_BUCKET,
        dr_bucket=REDIS_EXPORT_DR_BUCKET,
        dr_region=DR,
        ledger_bucket=REPORTS,
        region_name=REGION,
        waiter_delay=0,
        deferrable=False,
    ).execute({"run_id": "scheduled__x"})


def _restore() -> CacheDrillRestoreOperator:
    return CacheDrillRestoreOperator(
        task_id="restore",
        node_type="cache.t4g.small",
        policy_name="triflow-redis-daily",
        dr_export={"bucket": REDIS_EXPORT_DR_BUCKET, "region": DR},
        ledger_bucket=REPORTS,
        ledger_region=REGION,
        region_name=DR,
        **COMMON,
    )


def test_a_group_is_seeded_in_the_dr_region_from_the_exported_files_checked_and_deleted(aws):
    _export(aws)
    restore, asked = _restore(), []
    restore.hook.conn.meta.events.register(
        "provide-client-params.elasticache.CreateReplicationGroup",
        lambda params, **_: asked.append(dict(params)),
    )

    restored = restore.execute(_context())

    files = [f"arn:aws:s3:::{REDIS_EXPORT_DR_BUCKET}/{SNAPSHOT}-{shard:04d}.rdb" for shard in (1, 2)]
    assert restored["seeded_from"] == files and restored["snapshot_name"] == SNAPSHOT
    (call,) = asked
    assert call["SnapshotArns"] == files and "SnapshotName" not in call and call["NumNodeGroups"] == 2
    CacheGroupWaitOperator(
        task_id="wait", group_id=DRILL_GROUP, region_name=DR, waiter_delay=0, deferrable=False
    ).execute({})
    verified = CacheDrillVerifyOperator(
        task_id="verify", restore=restored, rto_seconds=3600, region_name=DR, **COMMON
    ).execute(_context())
    assert verified["passed"] is True, verified["checks"]
    in_dr = aws("elasticache", DR).describe_replication_groups(ReplicationGroupId=DRILL_GROUP)[
        "ReplicationGroups"
    ]
    assert len(in_dr) == 1
    primary = [
        g["ReplicationGroupId"] for g in aws("elasticache").describe_replication_groups()["ReplicationGroups"]
    ]
    assert DRILL_GROUP not in primary  # the drill ran in the DR region only

    torn = CacheDrillTeardownOperator(task_id="teardown", region_name=DR, **COMMON).execute(_context())

    assert torn["teardown"] == "deleted"


def test_without_a_recorded_dr_export_the_drill_fails_and_creates_nothing(aws):
    # files in the DR bucket that the export ledger does not list are not Backstop's export
    aws("s3", DR).put_object(
        Bucket=REDIS_EXPORT_DR_BUCKET, Key=f"{SNAPSHOT}-0001.rdb", Body=b"REDIS not ours"
    )

    with pytest.raises(AirflowFailException, match="No exported .rdb files"):
        _restore().execute(_context())

    assert aws("elasticache", DR).describe_replication_groups()["ReplicationGroups"] == []


def test_the_dr_export_drill_dag_restores_in_tokyo_and_deletes(airflow_db, aws, slack, tmp_path, monkeypatch):
    from tests.dag_loading import load_dag, shipped_policy, task_states

    _export(aws)
    dag = load_dag(
        "elasticache_restore_drill.py",
        "elasticache_dr_export_drill_triflow_redis_daily",
        shipped_policy(),
        tmp_path,
        monkeypatch,
    )

    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states == {n: "success" for n in ("restore", "wait_available", "verify", "teardown", "report")}
    (group,) = aws("elasticache", DR).describe_replication_groups(ReplicationGroupId=DRILL_GROUP)[
        "ReplicationGroups"
    ]
    assert group["Status"] == "deleting"  # moto keeps a deleted group `deleting`
