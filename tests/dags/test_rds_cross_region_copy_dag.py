"""`dag.test()` of rds_cross_region_copy: the newest managed snapshots land in the DR region."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import yaml

from backstop.airflow.dag_defaults import copy_pool
from backstop.naming import from_tag_list
from backstop.policy import DEFAULT_POLICY_PATH, load_policy
from tests.dag_loading import load_dag
from tests.dags.test_rds_snapshot_dag import SUNDAY_0300_KST, _states

ROOT = DEFAULT_POLICY_PATH.parents[1]


def test_copies_the_weekly_snapshots_to_the_dr_region(
    airflow_db, fleet, local_stack, slack, tmp_path, monkeypatch
):
    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    policy["defaults"]["retries"] = {"count": 0}
    weekly = load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)
    assert weekly.test(logical_date=SUNDAY_0300_KST).state == "success"
    copy_dag = load_dag("rds_cross_region_copy.py", "rds_cross_region_copy", policy, tmp_path, monkeypatch)

    dag_run = copy_dag.test(logical_date=datetime.now(UTC))

    assert dag_run.state == "success"
    states = {label: state for state, _, label in _states(dag_run, "copy_to_ap-northeast-1").values()}
    assert states == {
        "triflow-ai-production-db-weekly-20261122": "success",
        "triflow-ai-staging-db-weekly-20261122": "success",
    }  # the Aurora policy has no DR region: not copied
    dr = boto3.client("rds", region_name="ap-northeast-1", endpoint_url=local_stack.aws_endpoint_url)
    copies = dr.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert sorted(c["DBSnapshotIdentifier"] for c in copies) == sorted(states)
    assert all(from_tag_list(c["TagList"])["backstop:managed"] == "true" for c in copies)
    assert slack.messages() == []

    # A second run finds nothing left to copy.
    again = copy_dag.test(logical_date=datetime.now(UTC))
    assert again.state == "success"
    assert len(dr.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]) == 2


def test_every_dr_region_has_a_copy_pool_of_20_counting_deferred_tasks():
    settings = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())
    pools = {p["pool_name"]: p for p in settings["airflow"]["pools"]}
    regions = {dr.region for item in load_policy().rds_snapshots for dr in item.dr_regions}
    assert regions
    for region in regions:
        pool = pools[copy_pool(region)]
        assert pool["pool_slot"] == 20
        assert pool["pool_include_deferred"] is True
