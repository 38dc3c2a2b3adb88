"""`dag.test()` of the ElastiCache DAGs: the daily snapshot run and the restore drill, end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from include.local.fleet_datastores import REDIS_EXPORT_DR_BUCKET, REDIS_GROUP
from tests.dag_loading import load_dag, shipped_policy, task_states

REGION = "ap-northeast-2"


def test_the_daily_run_checks_posture_snapshots_exports_and_plans_retention(
    airflow_db, fleet, local_stack, slack, tmp_path, monkeypatch
):
    dag = load_dag(
        "elasticache_snapshot.py", "elasticache_daily_snapshot", shipped_policy(), tmp_path, monkeypatch
    )
    dag_run = dag.test(logical_date=datetime(2026, 11, 21, 17, 0, tzinfo=UTC))

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert set(states) == {
        "posture_triflow-redis-daily",
        f"snapshot_{REDIS_GROUP}",
        f"export_{REDIS_GROUP}",
        "prune_triflow-redis-daily",
        "prune_exports_triflow-redis-daily",  # after the export: the ledger names its two files
    }
    ec = boto3.client("elasticache", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)
    assert [
        s["SnapshotName"] for s in ec.describe_snapshots(ReplicationGroupId=REDIS_GROUP)["Snapshots"]
    ] == [f"{REDIS_GROUP}-daily-20261122"]
    dr = boto3.client("s3", region_name="ap-northeast-1", endpoint_url=local_stack.aws_endpoint_url)
    assert dr.list_objects_v2(Bucket=REDIS_EXPORT_DR_BUCKET)["KeyCount"] == 2
    assert slack.messages() == []


def test_the_drill_restores_verifies_and_deletes_its_group(
    airflow_db, fleet, local_stack, tmp_path, monkeypatch
):
    ec = boto3.client("elasticache", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)
    snapshot_dag = load_dag(
        "elasticache_snapshot.py", "elasticache_daily_snapshot", shipped_policy(), tmp_path, monkeypatch
    )
    assert snapshot_dag.test(logical_date=datetime(2026, 11, 21, 17, 0, tzinfo=UTC)).state == "success"

    dag = load_dag(
        "elasticache_restore_drill.py",
        "elasticache_drill_triflow_redis_daily",
        shipped_policy(),
        tmp_path,
        monkeypatch,
    )
    dag_run = dag.test(logical_date=datetime(2026, 12, 5, 18, 0, tzinfo=UTC))

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states == {n: "success" for n in ("restore", "wait_available", "verify", "teardown", "report")}
    group = ec.describe_replication_groups(ReplicationGroupId=f"{REDIS_GROUP}-drill-20261206")[
        "ReplicationGroups"
    ]
    assert group[0]["Status"] == "deleting"


def test_a_drill_blocked_by_a_foreign_group_fails_the_run_and_leaves_the_group(
    airflow_db, fleet, local_stack, slack, tmp_path, monkeypatch
):
    ec = boto3.client("elasticache", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)
    drill_group = f"{REDIS_GROUP}-drill-20261206"
    ec.create_replication_group(
        ReplicationGroupId=drill_group, ReplicationGroupDescription="not Backstop's", Engine="redis"
    )
    dag = load_dag(
        "elasticache_restore_drill.py",
        "elasticache_drill_triflow_redis_daily",
        shipped_policy(),
        tmp_path,
        monkeypatch,
    )
    dag_run = dag.test(logical_date=datetime(2026, 12, 5, 18, 0, tzinfo=UTC))

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["restore"] == "failed" and states["teardown"] == "failed", states
    assert (
        ec.describe_replication_groups(ReplicationGroupId=drill_group)["ReplicationGroups"][0]["Status"]
        == "available"
    )
    assert any("not a Backstop drill group" in str(m) for m in slack.messages())
