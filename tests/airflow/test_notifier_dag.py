"""SlackFailureNotifier under a real `dag.test()`: wired from default_args, fired by Airflow's task
runner, routed per task (mapped instances of one task, one shared notifier). Slack being down is
covered without dag.test() in test_slack.py (the notifier never raises)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.dag_loading import load_dag, shipped_policy

SUNDAY_0300_KST = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)


def test_failed_tasks_alert_their_own_channels_under_dag_test(
    airflow_db, fleet, slack, tmp_path, monkeypatch
):
    from airflow.utils.session import create_session

    from backstop.airflow.notifier import SlackFailureNotifier

    policy = shipped_policy()
    rds_policy, aurora_policy = policy["rds_snapshots"]
    rds_policy["slack_channel"] = "#dba-oncall"  # per-policy routing
    rds_policy["resources"] = [
        {"type": "rds_instance", "id": "triflow-ai-staging-db"},
        {"type": "rds_instance", "id": "triflow-ai-ghost-a"},
    ]
    aurora_policy["resources"] = [{"type": "rds_instance", "id": "triflow-ai-ghost-b"}]  # default channel
    policy["drills"] = []  # the drills' source is not in this policy any more
    policy.pop("bunker", None)  # nor is the production database the bunker copies
    dag = load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)
    (callback,) = dag.get_task("snapshot").on_failure_callback
    assert isinstance(callback, SlackFailureNotifier)

    dag_run = dag.test(logical_date=SUNDAY_0300_KST)

    assert dag_run.state == "failed"
    with create_session() as session:
        states = {
            ti.rendered_map_index: ti.state
            for ti in dag_run.get_task_instances(session=session)
            if ti.task_id == "snapshot"
        }
    assert states == {
        "triflow-ai-staging-db": "success",
        "triflow-ai-ghost-a": "failed",
        "triflow-ai-ghost-b": "failed",
    }
    routed = {m["channel"]: m["text"] for m in slack.messages()}
    assert sorted(routed) == ["#dba-oncall", "#triflow-alerts"], routed
    assert "triflow-ai-ghost-a" in routed["#dba-oncall"] and "does not exist" in routed["#dba-oncall"]
    assert "triflow-ai-ghost-b" in routed["#triflow-alerts"]
    assert callback.channel == "#triflow-alerts"  # the shared instance was not rendered in place
