"""`dag.test()` of backup_freshness against moto and the Slack recorder.

moto cannot backdate snapshots, so time is moved the way the retention tests move it: each run
has a logical date in the future, which the monitor takes as "now" when it is later than the
wall clock. Nothing of Backstop's is patched.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backstop.freshness.alerts import read_state
from backstop.freshness.evidence import RUNS_PREFIX, read_latest
from tests.dag_loading import load_dag, shipped_policy
from tests.freshness.world import BUCKET, DR, PRIMARY, PROD, World


def _policy() -> dict:
    policy = shipped_policy(retries={"count": 0})
    policy["freshness"] = {"reminder_every": "6h"}
    policy.pop("dynamodb", None)  # RDS rows only; DynamoDB rows: tests/dynamodb/test_dynamodb_freshness.py
    policy.pop("elasticache", None)  # ElastiCache and S3 rows: tests/freshness/test_freshness_datastores.py
    policy.pop("s3", None)
    policy.pop("resilience", None)  # resilience drill rows: tests/freshness/test_freshness_resilience.py
    policy.pop("bunker", None)  # bunker copy rows: tests/bunker/test_bunker_freshness.py
    return policy


@pytest.fixture
def world(fleet, local_stack) -> World:
    return World(local_stack.aws_endpoint_url)


@pytest.fixture
def freshness_dag(airflow_db, fleet, tmp_path, monkeypatch):
    return load_dag("backup_freshness.py", "backup_freshness", _policy(), tmp_path, monkeypatch)


def _run(dag, when: datetime) -> None:
    dag_run = dag.test(logical_date=when)
    assert dag_run.state == "success"


def _statuses(world: World) -> dict[tuple[str, str], str]:
    report = read_latest(world.s3, BUCKET)
    return {(r.resource_id, r.region): r.status for r in report.rows}


def test_stale_alerts_once_stays_quiet_reminds_then_recovers_once(freshness_dag, world, slack):
    prod_arn = world.all_fresh_but_production_dr()
    start = datetime.now(UTC) + timedelta(minutes=1)

    # A DR copy missing in the DR region: red for that region only, one alert.
    _run(freshness_dag, start)
    statuses = _statuses(world)
    assert statuses.pop((PROD, DR)) == "red"
    assert set(statuses.values()) == {"green"}, statuses
    (alert,) = slack.messages()
    assert alert["channel"] == "#triflow-alerts"
    assert "backup stale" in alert["text"] and f"{PROD} ({DR})" in alert["text"]
    assert "no DR copy in ap-northeast-1" in str(alert["blocks"])

    # Still stale an hour later: nothing new.
    _run(freshness_dag, start + timedelta(hours=1))
    assert len(slack.messages()) == 1

    # Past the 6 h reminder interval: exactly one reminder.
    _run(freshness_dag, start + timedelta(hours=6, minutes=5))
    messages = slack.messages()
    assert len(messages) == 2
    assert "still stale" in messages[1]["text"] and PROD in messages[1]["text"]

    # The copy arrives: exactly one "recovered".
    world.copy_to_dr(prod_arn, f"{PROD}-weekly-20261122")
    _run(freshness_dag, start + timedelta(hours=7))
    messages = slack.messages()
    assert len(messages) == 3
    assert messages[2]["text"].startswith("✅ recovered") and f"{PROD} ({DR})" in messages[2]["text"]
    assert set(_statuses(world).values()) == {"green"}

    # Nine days on, every backup is older than max_age (8d): one alert naming all of them.
    _run(freshness_dag, start + timedelta(days=9))
    messages = slack.messages()
    assert len(messages) == 4
    assert set(_statuses(world).values()) == {"red"}
    assert messages[3]["text"].count("(ap-northeast-") == 5
    assert "over max_age 8d" in str(messages[3]["blocks"])

    # The evidence: one object per run, the state visible beside it.
    runs = world.s3.list_objects_v2(Bucket=BUCKET, Prefix=RUNS_PREFIX)["Contents"]
    assert len(runs) == 5
    state = read_state(world.s3, BUCKET)
    assert {row.status for row in state.rows.values()} == {"red"}


def test_a_stale_alert_slack_did_not_take_is_sent_on_the_next_run(freshness_dag, world, slack):
    world.all_fresh_but_production_dr()
    start = datetime.now(UTC) + timedelta(minutes=1)
    slack.fault("down")
    try:
        _run(freshness_dag, start)  # the alert is lost; the run still succeeds and says so in its log
    finally:
        slack.fault("clear")
    assert slack.messages() == []
    state = read_state(world.s3, BUCKET)
    assert state.rows[f"triflow-rds-weekly/rds_instance/{PROD}/{DR}"].alerted_at is None

    _run(freshness_dag, start + timedelta(hours=1))
    (alert,) = slack.messages()
    assert f"{PROD} ({DR})" in alert["text"]
    assert _statuses(world)[(PROD, PRIMARY)] == "green"
