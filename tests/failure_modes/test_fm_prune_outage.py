"""Failure modes of retention_prune at DAG level, injected over real HTTP by the fault proxy.

The three promises, for each mode: the run fails loudly (or heals by itself when the fault can
heal), exactly one alert names what failed, nothing is lost (every snapshot the plan keeps and
every unmanaged one still exists; nothing is deleted twice), and a re-run converges on the
state a clean run leaves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.dag_loading import load_dag, shipped_policy, task_states

PROD = "triflow-ai-production-db"
MANAGED = [
    {"Key": "backstop:managed", "Value": "true"},
    {"Key": "backstop:policy", "Value": "triflow-rds-weekly"},
    {"Key": "backstop:tier", "Value": "weekly"},
]
SNAPSHOTS = [f"{PROD}-weekly-202610{day:02d}" for day in range(1, 11)]  # oldest first
KEPT = {SNAPSHOTS[-1], SNAPSHOTS[-2], "dba-hand-made"}  # min_keep 2 + the unmanaged one
CONFIRMED = {"dry_run": False, "confirm_delete": "DELETE"}  # a manual real run


def _manual(rds) -> set[str]:
    return {
        s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    }


@pytest.fixture
def seeded(fleet, rds):
    for name in SNAPSHOTS:
        rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier=name, Tags=MANAGED)
    rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier="dba-hand-made")
    return rds


@pytest.fixture
def prune_dag(airflow_db, aws_faults, tmp_path, monkeypatch):
    """retention_prune under the shipped policy with one fast retry, AWS behind the proxy."""
    policy = shipped_policy({"count": 1, "delay": "1s", "max_delay": "2s"})
    return load_dag("retention_prune.py", "retention_prune", policy, tmp_path, monkeypatch)


def test_emulator_dying_mid_prune_fails_once_loses_nothing_and_a_rerun_converges(
    prune_dag, aws_faults, seeded, slack
):
    when = datetime.now(UTC) + timedelta(days=1)
    aws_faults.outage(after={"DeleteDBSnapshot": 3})  # dies after the third delete reaches it

    first = prune_dag.test(logical_date=when, run_conf=CONFIRMED)

    # Loud: the run and its apply task failed (after the retry, still in the outage).
    states = task_states(first)
    assert first.state == "failed", states
    assert states["plan_retention"] == "success" and states["apply_retention"] == "failed", states
    # One alert, naming the DAG, the task and what went wrong.
    (alert,) = slack.messages()
    body = f"{alert['text']} {alert['blocks']}"
    for expected in ("retention_prune", "apply_retention", "planned deletions", "s3://"):
        assert expected in body, (expected, body)  # names the plan, not "Resource: -"
    # Nothing lost: exactly the three deletes that got through are gone, all of them planned.
    left = _manual(seeded)
    assert KEPT <= left, left
    assert len(SNAPSHOTS) + 1 - len(left) == 3 == aws_faults.forwarded["DeleteDBSnapshot"]

    aws_faults.heal()  # the emulator is back, with its state
    second = prune_dag.test(logical_date=when + timedelta(minutes=5), run_conf=CONFIRMED)

    assert second.state == "success", task_states(second)
    assert _manual(seeded) == KEPT  # what one clean run leaves
    assert aws_faults.forwarded["DeleteDBSnapshot"] == len(SNAPSHOTS) - 2  # never deleted twice
    assert len(slack.messages()) == 1  # the recovered run adds no alert


def test_throttling_storm_mid_prune_is_absorbed_without_an_alert_or_a_double_delete(
    prune_dag, aws_faults, seeded, slack
):
    aws_faults.throttle("DeleteDBSnapshot", times=6)  # more throttles than deletes in flight

    run = prune_dag.test(logical_date=datetime.now(UTC) + timedelta(days=1), run_conf=CONFIRMED)

    assert run.state == "success", task_states(run)
    assert _manual(seeded) == KEPT
    assert aws_faults.failed["DeleteDBSnapshot"] == 6  # the storm happened ...
    assert aws_faults.forwarded["DeleteDBSnapshot"] == len(SNAPSHOTS) - 2  # ... each delete once
    assert slack.messages() == []
