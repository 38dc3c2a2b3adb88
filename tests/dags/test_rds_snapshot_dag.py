"""End to end: `dag.test()` of rds_weekly_snapshot against the moto server and Slack recorder."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import yaml

from backstop.naming import from_tag_list, tag_value
from backstop.policy import DEFAULT_POLICY_PATH
from tests.dag_loading import load_dag

ROOT = Path(__file__).resolve().parents[2]
SUNDAY_0300_KST = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)


def policy_with(resources: list[str]) -> dict:
    policy = copy.deepcopy(yaml.safe_load(DEFAULT_POLICY_PATH.read_text()))
    policy["defaults"]["retries"] = {"count": 1, "delay": "1s", "max_delay": "2s"}
    policy["rds_snapshots"][0]["resources"] = [{"type": "rds_instance", "id": r} for r in resources]
    return policy


def _states(dag_run, task_id):
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            ti.map_index: (ti.state, ti.try_number, ti.rendered_map_index)
            for ti in dag_run.get_task_instances(session=session)
            if ti.task_id == task_id
        }


def test_weekly_run_snapshots_every_resource(airflow_db, fleet, rds, slack, tmp_path, monkeypatch):
    policy = policy_with(["triflow-ai-production-db", "triflow-ai-staging-db"])
    dag = load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)

    dag_run = dag.test(logical_date=SUNDAY_0300_KST)

    assert dag_run.state == "success"
    states = _states(dag_run, "snapshot")
    assert sorted(s for s, _, _ in states.values()) == ["success"] * 3
    for name, source in [
        ("triflow-ai-production-db-weekly-20261122", "triflow-ai-production-db"),
        ("triflow-ai-staging-db-weekly-20261122", "triflow-ai-staging-db"),
    ]:
        snap = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
        tags = from_tag_list(snap["TagList"])
        assert snap["DBInstanceIdentifier"] == source
        assert tags["backstop:managed"] == "true"
        assert tags["backstop:tier"] == "weekly"
        assert tags["backstop:policy"] == "triflow-rds-weekly"
        assert tags["backstop:run-id"] == tag_value(dag_run.run_id)
    cluster = rds.describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier="triflow-ai-analytics-weekly-20261122"
    )
    assert (
        from_tag_list(cluster["DBClusterSnapshots"][0]["TagList"])["backstop:policy"]
        == "triflow-aurora-weekly"
    )
    assert slack.messages() == []


def test_one_missing_resource_fails_only_its_task_and_alerts_once(
    airflow_db, fleet, rds, slack, tmp_path, monkeypatch
):
    policy = policy_with(["triflow-ai-production-db", "triflow-ai-ghost-db", "triflow-ai-staging-db"])
    dag = load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)

    dag_run = dag.test(logical_date=SUNDAY_0300_KST)

    assert dag_run.state == "failed"
    states = {rendered: state for state, _, rendered in _states(dag_run, "snapshot").values()}
    assert states == {
        "triflow-ai-production-db": "success",
        "triflow-ai-ghost-db": "failed",
        "triflow-ai-staging-db": "success",
        "triflow-ai-analytics": "success",
    }
    assert rds.describe_db_snapshots(DBSnapshotIdentifier="triflow-ai-staging-db-weekly-20261122")[
        "DBSnapshots"
    ]

    messages = slack.messages()
    assert len(messages) == 1, messages
    message = messages[0]
    assert message["channel"] == "#triflow-alerts"
    body = str(message["blocks"])
    for expected in ["rds_weekly_snapshot", "snapshot", "triflow-ai-ghost-db", "does not exist", "Open log"]:
        assert expected in body, (expected, body)
    assert "triflow-ai-ghost-db" in message["text"]


def test_alert_fires_once_after_the_retries_are_spent(airflow_db, fleet, slack, tmp_path, monkeypatch):
    """A retryable AWS error on one database: two tries, then exactly one Slack message.

    moto cannot be made to refuse CreateDBSnapshot with a retryable error, so the snapshot
    call is wrapped to raise InvalidDBInstanceState for the staging database only.
    """
    from botocore.exceptions import ClientError

    import backstop.snapshots.create as rds_operators

    real_create = rds_operators.create_snapshot
    calls = []

    def flaky_create(client, db_type, source_id, snapshot_id, tags):
        calls.append(source_id)
        if source_id == "triflow-ai-staging-db":
            raise ClientError(
                {"Error": {"Code": "InvalidDBInstanceState", "Message": "Instance is not available"}},
                "CreateDBSnapshot",
            )
        return real_create(client, db_type, source_id, snapshot_id, tags)

    monkeypatch.setattr(rds_operators, "create_snapshot", flaky_create)
    policy = policy_with(["triflow-ai-production-db", "triflow-ai-staging-db"])
    dag = load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)

    dag_run = dag.test(logical_date=SUNDAY_0300_KST)

    assert dag_run.state == "failed"
    assert calls.count("triflow-ai-staging-db") == 2  # first try + one retry
    states = {rendered: (state, tries) for state, tries, rendered in _states(dag_run, "snapshot").values()}
    assert states["triflow-ai-staging-db"] == ("failed", 2)
    assert states["triflow-ai-production-db"][0] == "success"
    messages = slack.messages()
    assert len(messages) == 1, messages
    body = str(messages[0]["blocks"])
    assert "Try*\\n2 of 2" in body and "InvalidDBInstanceState" in body, body


def _asset_events(dag_run) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .filter(AssetEvent.source_dag_id == dag_run.dag_id, AssetEvent.source_run_id == dag_run.run_id)
            .all()
        )
        return [dict(event.extra or {}) for event in events]


def test_a_run_announces_its_snapshots_in_one_asset_event(airflow_db, fleet, slack, tmp_path, monkeypatch):
    """One event per run (not one per mapped task), naming what was made; a failed database
    still fails the run but does not hold back the announcement of the others."""
    policy = policy_with(["triflow-ai-production-db", "triflow-ai-ghost-db"])
    dag = load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)

    dag_run = dag.test(logical_date=SUNDAY_0300_KST)

    assert dag_run.state == "failed"
    events = _asset_events(dag_run)
    assert len(events) == 1, events
    named = sorted(s["snapshot_id"] for s in events[0]["snapshots"])
    assert named == ["triflow-ai-analytics-weekly-20261122", "triflow-ai-production-db-weekly-20261122"]
    assert events[0]["run_id"] == dag_run.run_id


def test_a_run_with_no_snapshot_announces_nothing(airflow_db, fleet, slack, tmp_path, monkeypatch):
    policy = policy_with(["triflow-ai-ghost-db"])
    policy["rds_snapshots"] = policy["rds_snapshots"][:1]
    policy["drills"] = []  # the DR drill's source is no longer protected by any policy
    del policy["bunker"]  # so are the databases that ask for bunker copies
    dag = load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)

    dag_run = dag.test(logical_date=SUNDAY_0300_KST)

    assert dag_run.state == "failed"
    assert _states(dag_run, "announce")[-1][0] == "skipped"
    assert _asset_events(dag_run) == []
