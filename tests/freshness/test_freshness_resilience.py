"""Freshness rows for the resilience drills (freshness/sources/resilience.py): pure verdicts, the
policy's limits, the newest report of each drill in the report bucket (moto over HTTP), and the
contract with the reports a real drill run writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from backstop.freshness.monitor import evaluate, write_freshness_report
from backstop.freshness.registry import all_targets
from backstop.freshness.sources.resilience import assess_drill
from backstop.policy import parse_policy
from tests.dag_loading import shipped_policy
from tests.drills.conftest import drill_world, pg_plane  # noqa: F401  (fixtures)
from tests.freshness.world import BUCKET, PRIMARY

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DAY = 86400.0
FAILOVER = {
    "kind": "failover",
    "passed": True,
    "failover_seconds": 94.2,
    "client_downtime_seconds": 41.0,
    "failures": [],
}


def test_a_recent_passing_drill_is_green_and_reads_its_figures():
    status, reason = assess_drill(
        "failover",
        "triflow-ai-staging-ha-db",
        FAILOVER,
        NOW - timedelta(days=3),
        36 * DAY,
        "monthly-drill",
        NOW,
    )
    assert status == "green"
    assert reason.startswith(
        "last failover drill: 94 s, client downtime 41 s (triflow-ai-staging-ha-db, PASSED"
    )
    status, reason = assess_drill(
        "task_loss", "c/s", {"passed": True, "recovery_seconds": 12.4}, NOW, 36 * DAY, "monthly-drill", NOW
    )
    assert (status, reason.split(" (")[0]) == ("green", "last task-loss drill: recovery 12 s")
    status, reason = assess_drill(
        "rebuild", "triflow-infra", {"passed": True, "total_seconds": 3720}, NOW, 99 * DAY, "q", NOW
    )
    assert (status, reason.split(" (")[0]) == ("green", "last rebuild drill: total 1h 2m")


def test_a_failed_drill_is_amber_an_old_one_red_and_none_at_all_red():
    failed = {
        **FAILOVER,
        "passed": False,
        "failures": ["the failover did not happen: the instance is still in 2a"],
    }
    status, reason = assess_drill(
        "failover", "db", failed, NOW - timedelta(days=1), 36 * DAY, "monthly-drill", NOW
    )
    assert status == "amber" and "FAILED" in reason and reason.endswith("still in 2a")
    status, reason = assess_drill(
        "failover", "db", FAILOVER, NOW - timedelta(days=37), 36 * DAY, "monthly-drill", NOW
    )
    assert status == "red" and reason.startswith("overdue: last failover drill: 94 s")
    assert "over max_age 36d of schedule monthly-drill" in reason
    old_and_failed = assess_drill("failover", "db", failed, NOW - timedelta(days=37), 36 * DAY, "m", NOW)
    assert old_and_failed[0] == "red"  # overdue outranks failed
    status, reason = assess_drill("rebuild", "triflow-infra", None, None, 99 * DAY, "quarterly-rebuild", NOW)
    assert status == "red" and "never drilled" in reason and "quarterly-rebuild allows 99d" in reason


def test_each_drill_gets_a_row_limited_by_its_schedules_max_age():
    targets = {
        t.resource: t for t in all_targets(parse_policy(shipped_policy())) if t.kind.startswith("resilience_")
    }
    assert {name: t.kind for name, t in targets.items()} == {
        "staging-db-failover": "resilience_failover",
        "staging-backend-task-loss": "resilience_task_loss",
        "quarterly-rebuild": "resilience_rebuild",
    }
    # the safe default: the cron's longest gap plus a day (first Sundays: 35 days apart at most)
    assert targets["staging-db-failover"].max_age_s == 36 * DAY
    assert 92 * DAY < targets["quarterly-rebuild"].max_age_s <= 99 * DAY
    assert targets["staging-db-failover"].spec["resource"] == "triflow-ai-staging-ha-db"

    data = shipped_policy()
    data["schedules"]["monthly-drill"]["max_age"] = "40d"  # the policy setting
    data["resilience"]["failover"][0].pop("id")
    data["resilience"]["failover"][0]["cluster"] = "triflow-ai-staging-aurora"
    changed = {t.resource: t for t in all_targets(parse_policy(data)) if t.kind.startswith("resilience_")}
    assert changed["staging-db-failover"].max_age_s == 40 * DAY
    assert changed["staging-db-failover"].spec["resource"] == "triflow-ai-staging-aurora"


@pytest.fixture
def factory(fleet, local_stack):
    def make(service: str, region: str):
        return boto3.client(service, region_name=region, endpoint_url=local_stack.aws_endpoint_url)

    return make


def _report(factory, key: str, **fields) -> None:
    factory("s3", PRIMARY).put_object(
        Bucket=BUCKET, Key=f"reports/resilience/{key}", Body=json.dumps(fields).encode()
    )


def test_the_newest_report_of_each_drill_decides_its_row(factory):
    data = shipped_policy()
    aurora = {**data["resilience"]["failover"][0], "name": "staging-db-failover-aurora"}
    aurora.pop("id")
    data["resilience"]["failover"].append({**aurora, "cluster": "triflow-ai-staging-aurora"})
    targets = [t for t in all_targets(parse_policy(data)) if t.kind.startswith("resilience_")]
    _report(
        factory,
        "20261101/staging-db-failover-scheduled__1.json",
        **FAILOVER,
        finished_at="2026-11-01T18:03:00Z",
    )
    _report(
        factory,
        "20261206/staging-db-failover-scheduled__2.json",
        **{**FAILOVER, "passed": False, "failures": ["client downtime 200.0s exceeds 180s"]},
        finished_at="2026-12-05T18:03:00Z",
    )
    # a drill whose name starts like another's: each report counts for the longest name it fits
    _report(
        factory,
        "20261206/staging-db-failover-aurora-manual__3.json",
        **FAILOVER,
        finished_at="2026-12-06T01:00:00Z",
    )
    _report(
        factory,
        "20261025/staging-backend-task-loss-scheduled__1.json",
        kind="task_loss",
        resource="triflow-ai-staging-cluster/old-backend",  # the row says what that run drilled
        passed=True,
        recovery_seconds=12.0,
        finished_at="2026-10-25T18:01:00Z",
    )
    report = evaluate(
        targets, [], client_factory=factory, report_bucket=BUCKET, report_region=PRIMARY, now=NOW
    )

    rows = {r.resource_id: r for r in report.rows}
    failover = rows["staging-db-failover"]
    assert (failover.status, failover.kind, failover.region) == ("amber", "resilience_failover", PRIMARY)
    assert failover.reason.startswith(
        "last failover drill: 94 s, client downtime 41 s (triflow-ai-staging-ha-db, FAILED"
    )
    assert failover.reason.endswith("client downtime 200.0s exceeds 180s")
    assert failover.newest_backup_id.endswith("20261206/staging-db-failover-scheduled__2.json")
    assert failover.newest_backup_at == datetime(2026, 12, 5, 18, 3, tzinfo=UTC)
    aurora_row = rows["staging-db-failover-aurora"]
    assert (
        aurora_row.status == "green" and "(triflow-ai-staging-aurora, PASSED 2026-12-06" in aurora_row.reason
    )
    task_loss = rows["staging-backend-task-loss"]
    assert task_loss.status == "red" and task_loss.reason.startswith(
        "overdue: last task-loss drill: recovery 12 s"
    )
    assert "(triflow-ai-staging-cluster/old-backend, PASSED 2026-10-25" in task_loss.reason
    rebuild = rows["quarterly-rebuild"]
    assert rebuild.status == "red" and "never drilled" in rebuild.reason and rebuild.newest_backup_id is None


def test_a_real_failover_drill_report_becomes_a_green_row_with_its_figures(
    airflow_db,
    drill_world,  # noqa: F811
    local_stack,
    slack,
    monkeypatch,
    tmp_path,
):
    """The contract with backstop.resilience.evidence: the report a real drill run writes."""
    from include.local.emulation import configure
    from include.local.resilience_fleet import seed_dataplane
    from tests.dag_loading import load_dag
    from tests.resilience.conftest import FIRST_SUNDAY_0300_KST, resilience_policy

    seed_dataplane(drill_world.plane, local_stack.aws_endpoint_url)
    configure(
        local_stack.aws_endpoint_url, dataplane_admin_dsn=drill_world.plane.admin_dsn, failover_seconds=2
    )
    policy = resilience_policy(task_loss=False)
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", policy, tmp_path, monkeypatch)
    assert dag.test(logical_date=datetime.fromisoformat(FIRST_SUNDAY_0300_KST)).state == "success"
    (drill,) = drill_world.reports("reports/resilience/").values()

    def factory(service: str, region: str):
        return boto3.client(service, region_name=region, endpoint_url=local_stack.aws_endpoint_url)

    report = write_freshness_report(parse_policy(policy), factory)

    (row,) = [r for r in report.rows if r.kind == "resilience_failover"]
    assert row.status == "green", row.reason
    seconds = f"{drill['failover_seconds']:.0f} s, client downtime {drill['client_downtime_seconds']:.0f} s"
    assert row.reason.startswith(f"last failover drill: {seconds} (triflow-ai-staging-ha-db, PASSED")
    assert row.newest_backup_id == drill["report_uri"]
