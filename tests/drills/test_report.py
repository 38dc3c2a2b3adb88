"""Report assembly as a pure function of the step results. No AWS."""

from __future__ import annotations

from datetime import UTC, datetime

from backstop.drills.report import StepResults, Subject, build_report, failed_step, teardown_problem
from backstop.reports import report_key, summary_text
from tests.drills.plans import pitr_plan

TASK_IDS = {
    "plan": "d.preflight",
    "restore": "d.restore",
    "wait": "d.wait_available",
    "verify": "d.verify",
    "teardown": "d.delete_instance",
}
FINISHED = datetime(2026, 11, 7, 18, 3, tzinfo=UTC)
SUBJECT = Subject("production-pitr", "pitr", "triflow-ai-production-db", "ap-northeast-2")
PASSED = {
    "passed": True,
    "failures": [],
    "checks": [{"name": "workflows-present", "passed": True, "observed": 120, "message": "120 >= 1"}],
    "rto_seconds": 2.0,
    "rpo_seconds": 0.0,
    "rto_met": True,
    "rpo_met": True,
    "endpoint": {"address": "a", "port": 5432},
    "notes": [],
}
DELETED = {"instance_id": "triflow-ai-production-db-drill-20261108", "deleted": True}


def _all_done(**changes) -> StepResults:
    steps = {
        "plan": pitr_plan(),
        "restored": {"r": 1},
        "waited": {"w": 1},
        "verified": PASSED,
        "deleted": DELETED,
    }
    return StepResults(**{**steps, **changes})


def _report(results: StepResults, task_ids=TASK_IDS, subject=SUBJECT) -> dict:
    return build_report(
        results,
        task_ids=task_ids,
        subject=subject,
        dag_id="restore_drill_monthly",
        run_id="r1",
        finished_at=FINISHED,
    )


def test_a_passing_drill_reports_its_plan_checks_measures_and_deletion():
    report = _report(_all_done())
    assert report["passed"] is True and report["failed_step"] is None and report["failures"] == []
    assert report["instance_id"] == "triflow-ai-production-db-drill-20261108"
    assert report["region"] == "ap-northeast-2"
    assert report["started_at"] == "2026-11-07T18:00:05.123456+00:00"
    assert report["restore_point"] == "2026-11-07T17:55:05.123456+00:00"
    assert report["objectives"] == {"rto_seconds": 3600.0, "rpo_seconds": 300.0}
    assert report["checks"] == PASSED["checks"] and report["rto_seconds"] == 2.0
    assert report["deleted"] == DELETED and report["finished_at"] == FINISHED.isoformat()
    assert report["notes"] == ["a note from planning"]  # verify left none: the plan's
    assert summary_text(report).startswith(
        "Restore drill production-pitr PASSED: triflow-ai-production-db -> "
    )
    assert report_key(report["kind"], report["name"], "r1", FINISHED) == (
        "reports/drills/20261107/production-pitr-r1.json"
    )


def test_the_first_step_without_a_result_is_the_failed_one():
    results = _all_done(waited=None, verified=None)
    assert failed_step(TASK_IDS, results) == "d.wait_available"
    report = _report(results)
    assert report["passed"] is False
    assert report["failures"] == ["task d.wait_available failed before producing a result (see its log)"]


def test_a_failed_verdict_is_reported_with_its_reasons_at_verify():
    verified = {
        **PASSED,
        "passed": False,
        "failures": ["check workflows-present: observed 0, expected at least 1"],
    }
    report = _report(_all_done(verified=verified))
    assert report["failed_step"] == "d.verify"
    assert report["failures"] == verified["failures"]
    assert "failed at d.verify: check workflows-present" in summary_text(report)


def test_without_a_plan_the_subject_names_the_report():
    report = _report(StepResults(deleted={"instance_id": "x-drill-20261108", "deleted": False}))
    assert report["failed_step"] == "d.preflight"
    assert (report["name"], report["kind"], report["source"], report["region"]) == (
        "production-pitr",
        "pitr",
        "triflow-ai-production-db",
        "ap-northeast-2",
    )
    assert report["instance_id"] == "x-drill-20261108"  # the teardown still knew the name
    manual = _report(
        StepResults(), task_ids={"plan": "plan"}, subject=Subject("manual-restore", "manual", "db")
    )
    assert (manual["name"], manual["kind"], manual["source"], manual["failed_step"]) == (
        "manual-restore",
        "manual",
        "db",
        "plan",
    )


def test_cleanup_is_unconfirmed_only_when_a_drill_teardown_left_no_result():
    assert teardown_problem(TASK_IDS, _all_done(), "i") is None
    manual = {"plan": "plan"}  # a manual restore has no teardown: it keeps its instance
    assert teardown_problem(manual, StepResults(), "i") is None
    problem = teardown_problem(TASK_IDS, _all_done(deleted=None), "i-drill")
    assert problem.startswith(
        "the drill instance i-drill was not confirmed deleted (task d.delete_instance failed"
    )


def test_copy_back_errors_carry_no_row_data():
    """Issue "Trust": up to 1,500 characters of psql stderr (row values) went into the alert."""
    from backstop.drills.manual import redact_pg_error

    stderr = (
        'psql:/tmp/dump.sql:42: ERROR:  duplicate key value violates unique constraint "users_pkey"\n'
        "DETAIL:  Key (email)=(ceo@triflow.example) already exists.\n"
        'CONTEXT:  COPY users, line 3: "3\tceo@triflow.example\tsecret-hash"\n'
    )
    text = redact_pg_error(stderr)
    assert "duplicate key value" in text
    assert "ceo@triflow.example" not in text and "secret-hash" not in text
