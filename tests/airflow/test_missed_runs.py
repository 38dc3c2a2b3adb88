"""No surprise run on unpause: a scheduled retention slot long past is skipped, manual runs go ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backstop.airflow.missed_runs import MISSED_SLOT_GRACE, missed_slot
from tests.dag_loading import load_dag, shipped_policy

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def test_a_scheduled_run_long_after_its_slot_is_missed_and_an_on_time_one_is_not():
    assert missed_slot("scheduled", NOW - timedelta(hours=13), NOW)  # unpaused at 15:00 KST for 02:00
    assert not missed_slot("scheduled", NOW - timedelta(seconds=30), NOW)  # the scheduler on time
    assert not missed_slot("scheduled", NOW - MISSED_SLOT_GRACE, NOW)  # a slow start, within grace


def test_manual_runs_are_never_skipped():
    assert not missed_slot("manual", NOW - timedelta(days=30), NOW)
    assert not missed_slot("asset_triggered", NOW - timedelta(days=30), NOW)


def test_retention_prune_plans_only_after_the_gate(tmp_path, monkeypatch):
    dag = load_dag("retention_prune.py", "retention_prune", shipped_policy(), tmp_path, monkeypatch)
    gate = dag.get_task("skip_missed_slot")
    assert gate.downstream_task_ids == {"plan_retention"}
    assert gate.ignore_downstream_trigger_rules is True  # apply_retention is skipped too
    assert dag.get_task("plan_retention").upstream_task_ids == {"skip_missed_slot"}
