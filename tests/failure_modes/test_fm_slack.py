"""Failure modes of the alert path itself: Slack rate-limits (429) or is down while a run fails.

Real faults in the Slack recorder (HTTP 429 with Retry-After, or 503 for every call); a real
weekly snapshot run in which one protected database does not exist (the failure to report).

Promises: the run fails loudly whatever Slack does (Slack trouble never hides or changes the
task's failure); with 429 exactly one alert is delivered, after slack-sdk's retry; with Slack
down none can be, and the task log says the alert was not delivered and why; nothing is lost
(the other databases' snapshots are made); a re-run once Slack is back adopts what exists,
makes no duplicate and delivers its one alert.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.dag_loading import load_dag, shipped_policy

SUNDAY_0300_KST = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
GHOST = "triflow-ai-ghost-db"
MADE = ["triflow-ai-production-db-weekly-20261122", "triflow-ai-staging-db-weekly-20261122"]


@pytest.fixture
def snapshot_dag(airflow_db, fleet, tmp_path, monkeypatch):
    policy = shipped_policy({"count": 0})
    policy["rds_snapshots"][0]["resources"] = [
        {"type": "rds_instance", "id": name}
        for name in ("triflow-ai-production-db", GHOST, "triflow-ai-staging-db")
    ]
    return load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)


def _snapshot_states(run) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            ti.rendered_map_index: str(ti.state)
            for ti in run.get_task_instances(session=session)
            if ti.task_id == "snapshot"
        }


def _made(rds) -> list[str]:
    names = {
        s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    }
    return sorted(n for n in names if n in MADE)


def test_slack_rate_limiting_delays_the_one_alert_but_never_drops_or_doubles_it(snapshot_dag, rds, slack):
    slack.fault("ratelimit", count=2)

    run = snapshot_dag.test(logical_date=SUNDAY_0300_KST)

    assert run.state == "failed"
    assert _snapshot_states(run)[GHOST] == "failed"
    assert _made(rds) == MADE  # the others were backed up
    (alert,) = slack.messages()
    assert GHOST in alert["text"]
    assert slack.stats()["ratelimited"] == 2


def test_slack_down_never_hides_the_failure_and_the_rerun_alerts_once_it_is_back(
    snapshot_dag, rds, slack, caplog
):
    slack.fault("down")

    first = snapshot_dag.test(logical_date=SUNDAY_0300_KST)

    assert first.state == "failed"  # Slack being down changed nothing about the run's verdict
    assert _snapshot_states(first)[GHOST] == "failed"
    assert _made(rds) == MADE
    assert slack.messages() == []
    assert "was not delivered" in caplog.text and GHOST in caplog.text

    slack.reset()  # Slack is back
    second = snapshot_dag.test(logical_date=SUNDAY_0300_KST)

    assert second.state == "failed"
    assert _made(rds) == MADE  # adopted, not duplicated
    assert len(rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]) == 2
    (alert,) = slack.messages()
    assert GHOST in alert["text"]
