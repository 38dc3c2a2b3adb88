"""The verdict as pure functions: parity, RTO/RPO, objectives -> passed + reasons. No AWS, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from backstop.drills.verdict import (
    Measurement,
    check_problems,
    failure_message,
    judge,
    measure,
    parity,
    parity_problems,
    verification_record,
)
from backstop.policy.drill_views import RecoveryObjectives
from tests.drills.plans import DR_KMS, KMS, POINT, STARTED, dr_plan, pitr_plan, restored, result

OBJECTIVES = RecoveryObjectives(rto_seconds=3600.0, rpo_seconds=300.0)


def _rows(plan, **restored_changes):
    return {r["name"]: r for r in parity(plan, restored(**restored_changes))}


def test_parity_compares_engine_version_encryption_and_the_sources_key():
    rows = _rows(pitr_plan())
    assert list(rows) == ["engine", "engine_version", "encrypted", "kms_key_id"]
    assert all(r["passed"] for r in rows.values())
    assert rows["kms_key_id"] == {"name": "kms_key_id", "expected": KMS, "observed": KMS, "passed": True}


def test_parity_of_a_dr_restore_expects_the_snapshots_key_not_the_sources():
    assert _rows(dr_plan(), KmsKeyId=DR_KMS)["kms_key_id"]["passed"] is True
    rows = _rows(dr_plan())  # restored with the source's key: not what the DR copy had
    assert rows["kms_key_id"]["passed"] is False
    assert parity_problems(list(rows.values())) == [
        f"parity kms_key_id: expected {DR_KMS!r}, observed {KMS!r}"
    ]


def test_parity_of_an_unencrypted_source_has_no_key_row_and_names_each_difference():
    plan = pitr_plan(source_config=replace(pitr_plan().source_config, encrypted=False, kms_key_id=None))
    rows = parity(plan, restored(EngineVersion="15.4", StorageEncrypted=False))
    assert [r["name"] for r in rows] == ["engine", "engine_version", "encrypted"]
    assert parity_problems(rows) == ["parity engine_version: expected '16.3', observed '15.4'"]


def test_rpo_is_the_restore_point_minus_the_newest_row_of_the_freshness_check():
    checks = [result("workflows-present"), result("heartbeat-fresh", newest=POINT - timedelta(seconds=42))]
    m = measure(
        started=STARTED, checked_at=STARTED + timedelta(seconds=90), restore_point=POINT, checks=checks
    )
    assert m.rto_seconds == 90.0
    assert m.rpo_seconds == 42.0
    assert m.rpo_basis == "restore point minus newest row of check heartbeat-fresh"
    assert m.notes == ()


def test_rpo_is_zero_with_a_note_when_the_restored_rows_are_newer_than_the_restore_point():
    checks = [result("heartbeat-fresh", newest=POINT + timedelta(seconds=10))]
    m = measure(started=STARTED, checked_at=STARTED, restore_point=POINT, checks=checks)
    assert m.rpo_seconds == 0.0
    assert len(m.notes) == 1 and "later than the restore point" in m.notes[0]


def test_rpo_without_a_freshness_check_is_drill_start_minus_restore_point():
    m = measure(
        started=STARTED, checked_at=STARTED, restore_point=POINT, checks=[result("workflows-present")]
    )
    assert m.rpo_seconds == 300.0
    assert m.rpo_basis == "drill start minus restore point (no freshness check)"


def test_everything_passing_and_within_the_objectives_passes():
    verdict = judge(
        parity_rows=parity(pitr_plan(), restored()),
        checks=[result("workflows-present")],
        measurement=Measurement(12.5, 60.0, "basis"),
        objectives=OBJECTIVES,
    )
    assert (verdict.passed, verdict.failures, verdict.rto_met, verdict.rpo_met) == (True, (), True, True)


def test_a_failed_check_fails_the_verdict_by_name_and_rto_is_not_judged():
    checks = [result("workflows-present", False, message="observed 0, expected at least 1"), result("other")]
    assert check_problems(checks) == ["check workflows-present: observed 0, expected at least 1"]
    verdict = judge(
        parity_rows=parity(pitr_plan(), restored()),
        checks=checks,
        measurement=Measurement(99999.0, 400.0, "basis"),
        objectives=OBJECTIVES,
    )
    assert verdict.passed is False
    assert verdict.rto_met is None  # a drill that did not recover has no recovery time
    assert verdict.rpo_met is False
    assert verdict.failures == (
        "check workflows-present: observed 0, expected at least 1",
        "RPO 400.0s missed the target of 300s",
    )


def test_missed_rto_and_rpo_are_reasons_in_that_order():
    verdict = judge(
        parity_rows=[],
        checks=[result("c")],
        measurement=Measurement(3600.4, 300.5, "b"),
        objectives=OBJECTIVES,
    )
    assert verdict.failures == (
        "RTO 3600.4s missed the target of 3600s",
        "RPO 300.5s missed the target of 300s",
    )
    assert failure_message(pitr_plan(), verdict) == (
        "pitr restore production-pitr FAILED: RTO 3600.4s missed the target of 3600s; "
        "RPO 300.5s missed the target of 300s"
    )


def test_a_manual_restore_has_no_objectives_to_miss():
    verdict = judge(
        parity_rows=[], checks=[result("c")], measurement=Measurement(1e9, 1e9, "b"), objectives=None
    )
    assert (verdict.passed, verdict.rto_met, verdict.rpo_met) == (True, None, None)


def test_the_verification_record_holds_every_observed_value_for_the_report():
    plan = pitr_plan()
    checks = [result("heartbeat-fresh", newest=POINT + timedelta(seconds=1))]
    checked_at = STARTED + timedelta(seconds=1.23456)
    m = measure(started=STARTED, checked_at=checked_at, restore_point=POINT, checks=checks)
    rows = parity(plan, restored())
    verdict = judge(parity_rows=rows, checks=checks, measurement=m, objectives=plan.objectives)
    record = verification_record(
        plan,
        restored(),
        connected_to={"host": "h"},
        parity_rows=rows,
        checks=checks,
        checked_at=checked_at,
        measurement=m,
        verdict=verdict,
    )
    assert record["endpoint"] == {"address": "drill.example.internal", "port": 5432}
    assert record["rto_seconds"] == 1.235 and record["rpo_seconds"] == 0.0
    assert record["checks"][0]["name"] == "heartbeat-fresh"
    assert record["passed"] is True and record["failures"] == []
    assert (
        record["notes"][0] == "a note from planning" and "later than the restore point" in record["notes"][1]
    )
    assert record["checked_at"] == checked_at.isoformat()
