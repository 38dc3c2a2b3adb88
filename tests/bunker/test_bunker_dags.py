"""`dag.test()` of bunker_copy and bunker_retention under the shipped policy, two moto accounts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backstop.naming import from_tag_list
from include.local.bunker_fleet import BUNKER_ACCOUNT
from tests.bunker.bunker_world import AURORA, PROD, STAGING, bunker, managed_snapshot, source
from tests.dag_loading import load_dag, shipped_policy, task_states


def _policy(**bunker_changes) -> dict:
    policy = shipped_policy(retries={"count": 0})
    policy["bunker"].update(bunker_changes)
    return policy


def test_the_copy_dag_puts_the_opted_in_snapshots_in_the_bunker(
    airflow_db, fleet, local_stack, slack, tmp_path, monkeypatch
):
    endpoint = local_stack.aws_endpoint_url
    prod = managed_snapshot(PROD)
    aurora = managed_snapshot(AURORA, "cluster", policy="triflow-aurora-weekly")
    managed_snapshot(STAGING)  # not opted in
    dag = load_dag("bunker_copy.py", "bunker_copy", _policy(), tmp_path, monkeypatch)

    run = dag.test(logical_date=datetime.now(UTC))

    assert run.state == "success", task_states(run)
    rds = bunker("rds", endpoint)
    instances = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    clusters = rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in instances] == [prod["snapshot_id"]]
    assert [s["DBClusterSnapshotIdentifier"] for s in clusters] == [aurora["snapshot_id"]]
    for copy in (*instances, *clusters):
        assert f":{BUNKER_ACCOUNT}:" in copy.get("DBSnapshotArn", copy.get("DBClusterSnapshotArn"))
        assert from_tag_list(copy["TagList"])["backstop:managed"] == "true"
    assert slack.messages() == []

    again = dag.test(logical_date=datetime.now(UTC))  # nothing left to copy
    assert again.state == "success"
    assert len(rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]) == 1


def test_the_retention_dag_with_a_connection_outside_the_bunker_fails_and_deletes_nothing(
    airflow_db, fleet, local_stack, slack, tmp_path, monkeypatch
):
    """bunker.retention_conn_id pointed at the source account: the gate stops the run, one alert."""
    managed_snapshot(PROD)
    before = source("rds", local_stack.aws_endpoint_url).describe_db_snapshots()["DBSnapshots"]
    dag = load_dag(
        "bunker_retention.py",
        "bunker_retention",
        _policy(retention_conn_id="aws_default"),
        tmp_path,
        monkeypatch,
    )

    run = dag.test(logical_date=datetime.now(UTC), run_conf={"dry_run": False, "confirm_delete": "DELETE"})

    states = task_states(run)
    assert run.state == "failed"
    assert states["check_bunker_account"] == "failed"
    assert states["apply_retention"] != "success" and states["plan_retention"] != "success"
    (alert,) = slack.messages()
    assert "check_bunker_account" in alert["text"]
    assert source("rds", local_stack.aws_endpoint_url).describe_db_snapshots()["DBSnapshots"] == before


@pytest.mark.parametrize("conn", ["aws_bunker", "aws_default"])
def test_the_policy_refuses_the_copy_connection_for_retention(conn):
    from backstop.policy import PolicyError, parse_policy

    policy = _policy(aws_conn_id=conn, retention_conn_id=conn)
    with pytest.raises(PolicyError, match="bunker.*retention_conn_id must differ"):
        parse_policy(policy)


def test_the_retention_tasks_run_on_the_bunkers_queue_when_one_is_named(tmp_path, monkeypatch):
    """On AWS the retention role is assumable only from workers inside the bunker account."""
    dag = load_dag(
        "bunker_retention.py", "bunker_retention", _policy(retention_queue="bunker"), tmp_path, monkeypatch
    )
    queues = {t.task_id: t.queue for t in dag.tasks}
    assert queues["check_bunker_account"] == queues["plan_retention"] == queues["apply_retention"] == "bunker"
    assert {t.aws_conn_id for t in dag.tasks if hasattr(t, "aws_conn_id")} == {"aws_bunker_retention"}
