"""Slack failure alerts (SlackFailureNotifier) through slack-sdk to the local recorder (real HTTP)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from backstop.airflow.notifier import SlackFailureNotifier
from backstop.airflow.slack import failure_blocks


def _context(error: Exception, channel: str | None = None):
    ti = SimpleNamespace(
        dag_id="rds_weekly_snapshot",
        task_id="snapshot",
        map_index=1,
        try_number=3,
        log_url="http://localhost:8080/dags/rds_weekly_snapshot/runs/r1/tasks/snapshot?map_index=1",
    )
    task = SimpleNamespace(db_identifier="triflow-ai-staging-db", retries=2, alert_channel=channel)
    return {"ti": ti, "task": task, "exception": error, "run_id": "scheduled__2026-11-21T18:00:00+00:00"}


def test_blocks_carry_what_the_on_call_needs():
    text, blocks = failure_blocks(_context(RuntimeError("first line\nsecond line with detail")))
    body = json.dumps(blocks)
    for expected in [
        "rds_weekly_snapshot",
        "snapshot[1]",
        "triflow-ai-staging-db",
        "3 of 3",
        "RuntimeError: first line",
        "map_index=1",
        "scheduled__2026-11-21T18:00:00+00:00",
    ]:
        assert expected in body, expected
    assert "second line" not in body
    assert "triflow-ai-staging-db" in text


def test_an_inventory_task_is_named_by_its_regions_not_a_dash():
    context = _context(RuntimeError("Retention aborted"))
    context["task"] = SimpleNamespace(regions=["ap-northeast-2", "ap-northeast-1"], retries=0)
    context["ti"].map_index = -1
    text, _ = failure_blocks(context)
    assert "(regions ap-northeast-2, ap-northeast-1)" in text


def test_alert_is_delivered_as_block_kit(local_stack, slack):
    SlackFailureNotifier(channel="#triflow-alerts")(_context(ValueError("boom")))
    (message,) = slack.messages()
    assert message["channel"] == "#triflow-alerts"
    assert message["blocks"][0]["type"] == "header"


def test_task_channel_overrides_the_default(local_stack, slack):
    SlackFailureNotifier(channel="#triflow-alerts")(_context(ValueError("boom"), channel="#dba-oncall"))
    assert [m["channel"] for m in slack.messages()] == ["#dba-oncall"]


def test_rate_limited_alert_is_retried_and_delivered_once(local_stack, slack):
    slack.fault("ratelimit", count=1)
    SlackFailureNotifier(channel="#triflow-alerts")(_context(ValueError("boom")))
    assert len(slack.messages()) == 1
    assert slack.stats()["ratelimited"] == 1


def test_slack_down_is_logged_and_never_raises(local_stack, slack, caplog):
    slack.fault("down")
    with caplog.at_level(logging.ERROR):
        SlackFailureNotifier(channel="#triflow-alerts")(_context(ValueError("the real error")))
    assert slack.messages() == []
    assert "was not delivered" in caplog.text


def test_token_is_never_logged(local_stack, slack, caplog, monkeypatch):
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_SLACK_API_DEFAULT"])
    token = "xoxb-secret-token-for-the-test"
    conn["password"] = token
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(conn))
    slack.fault("down")
    with caplog.at_level(logging.DEBUG):
        SlackFailureNotifier(channel="#triflow-alerts")(_context(ValueError("boom")))
    assert token not in caplog.text


def test_missing_token_is_reported_not_raised(local_stack, slack, caplog, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps({"conn_type": "slack"}))
    with caplog.at_level(logging.ERROR):
        SlackFailureNotifier(channel="#triflow-alerts")(_context(ValueError("boom")))
    assert "has no password" in caplog.text
    assert slack.messages() == []


@pytest.mark.parametrize("broken", [None, "not-an-exception"])
def test_odd_contexts_still_produce_a_message(broken):
    text, blocks = failure_blocks({"exception": broken})
    assert blocks and text


def test_templates_render_per_call_and_the_shared_instance_keeps_them(local_stack, slack):
    """One notifier serves every task of a DAG (default_args): rendering must not stick."""
    notifier = SlackFailureNotifier(channel="#{{ params.team }}-alerts")
    for team in ["dba", "sre"]:
        notifier({**_context(ValueError("boom")), "params": {"team": team}})
    assert [m["channel"] for m in slack.messages()] == ["#dba-alerts", "#sre-alerts"]
    assert notifier.channel == "#{{ params.team }}-alerts"


@pytest.mark.parametrize(
    "trouble",
    [
        pytest.param({"channel": "{{ no_such_variable.attribute }}"}, id="template-error"),
        pytest.param({"channel": "#ok", "slack_conn_id": "no_such_connection"}, id="missing-connection"),
    ],
)
def test_notifier_trouble_is_logged_and_never_raises(local_stack, slack, caplog, trouble):
    with caplog.at_level(logging.ERROR):
        SlackFailureNotifier(**trouble)(_context(ValueError("the real error")))
    assert slack.messages() == []
    assert "the task's own error stands" in caplog.text or "was not delivered" in caplog.text


def test_a_broken_context_is_logged_and_never_raises(caplog, monkeypatch):
    import backstop.airflow.notifier as notifier_module

    def broken(_context):
        raise KeyError("ti")

    monkeypatch.setattr(notifier_module, "failure_blocks", broken)
    with caplog.at_level(logging.ERROR):
        SlackFailureNotifier(channel="#triflow-alerts")(_context(ValueError("boom")))
    assert "the task's own error stands" in caplog.text


def test_dag_defaults_wire_the_notifier_from_the_policy():
    from backstop.airflow.dag_defaults import default_args
    from backstop.policy import load_policy

    policy = load_policy()
    callback = default_args(policy)["on_failure_callback"]
    assert isinstance(callback, SlackFailureNotifier)
    assert (callback.channel, callback.slack_conn_id) == (
        policy.defaults.slack.channel,
        policy.defaults.slack.conn_id,
    )
    assert default_args(policy, channel="#dba-oncall")["on_failure_callback"].channel == "#dba-oncall"
