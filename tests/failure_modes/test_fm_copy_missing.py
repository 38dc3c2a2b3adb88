"""Failure mode: a DR copy goes missing in the destination region (deleted by hand, by another
tool, or never finished). Real runs of rds_weekly_snapshot and rds_cross_region_copy on moto.

Promises: nothing else is touched (the other copy and every source snapshot stay as they are);
the next copy run finds the gap and copies that snapshot again, once; no alert for a gap the run
closes itself (the hourly freshness monitor is what reports a DR region without a copy).
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from tests.dag_loading import load_dag, shipped_policy
from tests.dags.test_rds_snapshot_dag import SUNDAY_0300_KST

PROD_COPY = "triflow-ai-production-db-weekly-20261122"
STAGING_COPY = "triflow-ai-staging-db-weekly-20261122"


def _copies(dr) -> dict[str, str]:
    """DR-region manual snapshots -> their ARN + create time (a re-made copy has a new time)."""
    return {
        s["DBSnapshotIdentifier"]: f"{s['DBSnapshotArn']}@{s['SnapshotCreateTime'].isoformat()}"
        for s in dr.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    }


def test_a_dr_copy_missing_in_the_destination_is_copied_again_and_nothing_else_moves(
    airflow_db, fleet, rds, local_stack, slack, tmp_path, monkeypatch
):
    policy = shipped_policy({"count": 0})
    weekly = load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)
    assert weekly.test(logical_date=SUNDAY_0300_KST).state == "success"
    copy_dag = load_dag("rds_cross_region_copy.py", "rds_cross_region_copy", policy, tmp_path, monkeypatch)
    assert copy_dag.test(logical_date=datetime.now(UTC)).state == "success"
    dr = boto3.client("rds", region_name="ap-northeast-1", endpoint_url=local_stack.aws_endpoint_url)
    before = _copies(dr)
    sources_before = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert set(before) == {PROD_COPY, STAGING_COPY}

    dr.delete_db_snapshot(DBSnapshotIdentifier=PROD_COPY)  # the copy goes missing
    run = copy_dag.test(logical_date=datetime.now(UTC))

    assert run.state == "success"
    after = _copies(dr)
    assert set(after) == {PROD_COPY, STAGING_COPY}
    assert after[STAGING_COPY] == before[STAGING_COPY]  # untouched
    assert rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == sources_before
    assert slack.messages() == []
