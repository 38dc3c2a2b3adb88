"""The typed restore plan and the pure planning decisions. No AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.drills import planning
from backstop.drills.plan import RestorePlan, RestoreWindow
from backstop.policy import load_policy
from backstop.policy.drill_views import drill_dags, drill_regions, restore_form
from tests.drills.plans import STARTED, dr_plan, pitr_plan

WINDOW = RestoreWindow(STARTED - timedelta(days=7), STARTED - timedelta(minutes=5))


@pytest.mark.parametrize("plan", [pitr_plan(), dr_plan()], ids=["pitr", "dr_snapshot"])
def test_a_plan_survives_xcom(plan):
    as_json = json.loads(json.dumps(plan.to_xcom()))
    assert RestorePlan.from_xcom(as_json) == plan
    assert as_json["expires_at"] == "2026-11-07T21:00:05Z"  # the tag form


def test_no_plan_reads_as_none():
    assert RestorePlan.from_xcom(None) is None and RestorePlan.from_xcom({}) is None


def test_the_drill_point_is_the_offset_before_the_start_clamped_to_the_window_with_a_note():
    inside = planning.drill_point_in_time(STARTED, 3600, WINDOW)
    assert (inside.use_latest, inside.restore_time, inside.notes) == (False, STARTED - timedelta(hours=1), ())
    clamped = planning.drill_point_in_time(STARTED, 60, WINDOW)
    assert clamped.restore_point == WINDOW.latest
    assert "so restoring to" in clamped.notes[0]
    latest = planning.drill_point_in_time(STARTED, None, WINDOW)
    assert (latest.use_latest, latest.restore_time, latest.restore_point) == (True, None, WINDOW.latest)


def test_the_window_falls_back_to_the_retention_period_and_needs_a_latest_time():
    instance = {
        "DBInstanceIdentifier": "db",
        "LatestRestorableTime": STARTED,
        "InstanceCreateTime": STARTED - timedelta(days=30),
        "BackupRetentionPeriod": 7,
    }
    assert planning.restorable_window(instance, None, STARTED).earliest == STARTED - timedelta(days=7)
    told = STARTED - timedelta(days=2)
    assert planning.restorable_window(instance, told, STARTED).earliest == told
    with pytest.raises(AirflowFailException, match="automated backups are off"):
        planning.restorable_window({"DBInstanceIdentifier": "db"}, None, STARTED)


def test_a_manual_request_outside_the_window_names_the_window_and_creates_nothing():
    with pytest.raises(planning.RestoreWindowError, match="earliest .* latest .* Nothing was created"):
        planning.check_in_window("db", datetime(2020, 1, 1, tzinfo=UTC), WINDOW)
    planning.check_in_window("db", None, WINDOW)  # empty: the latest restorable time


def test_manual_form_fields_are_checked():
    with pytest.raises(AirflowFailException, match="schema.table"):
        planning.valid_tables(["Core.Workflows"])
    with pytest.raises(AirflowFailException, match="not an ISO 8601"):
        planning.requested_time("yesterday")
    assert planning.manual_target("db", "", STARTED) == "db-restore-202611071800"
    with pytest.raises(AirflowFailException, match="not a valid RDS identifier"):
        planning.manual_target("db", "bad--id", STARTED)
    checks = pitr_plan().checks
    assert planning.chosen_checks(checks, []) == checks
    assert [c.name for c in planning.chosen_checks(checks, ["heartbeat-fresh"])] == ["heartbeat-fresh"]
    with pytest.raises(AirflowFailException, match=r"unknown checks \['nope'\]"):
        planning.chosen_checks(checks, ["nope"])


def test_drill_views_of_the_shipped_policy():
    policy = load_policy()
    (dag,) = drill_dags(policy)
    assert dag.dag_id == "restore_drill_monthly" and dag.schedule == "monthly-drill"
    pitr, dr = dag.drills
    assert (pitr.kind, pitr.restore_region, pitr.restore_offset_seconds) == ("pitr", "ap-northeast-2", 300.0)
    assert (dr.kind, dr.restore_region, dr.objectives.rpo_seconds) == (
        "dr_snapshot",
        "ap-northeast-1",
        8 * 86400.0,
    )
    form = restore_form(policy)
    assert form.sources["triflow-ai-production-db"] == pitr  # a pitr drill's settings win
    assert form.check_names == ["heartbeat-fresh", "workflows-present"]
    assert drill_regions(policy) == ["ap-northeast-1", "ap-northeast-2"]


def test_drills_of_one_source_in_two_regions_get_two_local_clones():
    """The PITR drill (source region) and the DR-copy drill (DR region) restore instances of the
    same name; their emulated databases used to collide (UniqueViolation ... already exists)."""
    from backstop.drills.dataplane import clone_name, instance_region

    name = "triflow-ai-production-db-drill-20261206"
    assert clone_name(name, "ap-northeast-2") != clone_name(name, "ap-northeast-1")
    assert len(clone_name(name, "ap-northeast-2")) <= 63  # PostgreSQL's identifier limit
    assert instance_region({"DBInstanceArn": f"arn:aws:rds:ap-northeast-1:123:db:{name}"}) == "ap-northeast-1"
