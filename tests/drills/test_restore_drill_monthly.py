"""`dag.test()` of restore_drill_monthly: real moto, real embedded PostgreSQL, Slack recorder.

Each drill restores into `<source>-drill-<YYYYMMDD>`; the local data plane (emulation,
configured by BACKSTOP_LOCAL_DATAPLANE) clones the source database for it, so the checks run
real SQL on real rows. The drill instance must be gone at the end of every run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

FIRST_SUNDAY_0300_KST = datetime(2026, 11, 7, 18, 0, tzinfo=UTC)  # Sun 2026-11-08 03:00 KST
DRILL_INSTANCE = "triflow-ai-production-db-drill-20261108"
PITR_TASKS = "production-pitr"


def _seed_dr_copy(world) -> str:
    """A managed copy of production in the DR region, as rds_cross_region_copy leaves it."""
    src = world.client("rds")
    src.create_db_snapshot(
        DBInstanceIdentifier="triflow-ai-production-db",
        DBSnapshotIdentifier="triflow-ai-production-db-weekly-20261101",
        Tags=[{"Key": "backstop:managed", "Value": "true"}],
    )
    arn = src.describe_db_snapshots(DBSnapshotIdentifier="triflow-ai-production-db-weekly-20261101")[
        "DBSnapshots"
    ][0]["DBSnapshotArn"]
    dr = world.client("rds", "ap-northeast-1")
    dr.copy_db_snapshot(
        SourceDBSnapshotIdentifier=arn,
        TargetDBSnapshotIdentifier="triflow-ai-production-db-weekly-20261101",
        SourceRegion="ap-northeast-2",
        KmsKeyId="alias/backstop-dr",
        Tags=[
            {"Key": "backstop:managed", "Value": "true"},
            {"Key": "backstop:source", "Value": "triflow-ai-production-db"},
        ],
    )
    return "triflow-ai-production-db-weekly-20261101"


def _assert_no_drill_instances(world):
    for region in ("ap-northeast-2", "ap-northeast-1"):
        assert not [i for i in world.instances(region) if "-drill-" in i], region
    assert world.clones() == []


def test_monthly_drill_passes_and_leaves_evidence(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    snapshot = _seed_dr_copy(drill_world)
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy_for())

    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    got = states(dag_run)
    assert dag_run.state == "success", got
    assert set(got.values()) == {"success"}, got
    _assert_no_drill_instances(drill_world)

    reports = drill_world.reports()
    assert len(reports) == 2, list(reports)
    by_name = {r["name"]: r for r in reports.values()}
    pitr = by_name["production-pitr"]
    assert pitr["passed"] is True and pitr["failed_step"] is None
    assert pitr["instance_id"] == DRILL_INSTANCE
    assert all(k.startswith("reports/drills/") for k in reports)
    checks = {c["name"]: c for c in pitr["checks"]}
    assert checks["workflows-present"]["observed"] == 120  # real rows counted in the clone
    assert checks["heartbeat-fresh"]["passed"] is True
    assert pitr["connected_to"]["emulated"] is True
    assert {p["name"] for p in pitr["parity"]} == {"engine", "engine_version", "encrypted", "kms_key_id"}
    assert 0 < pitr["rto_seconds"] < 3600 and pitr["rpo_seconds"] is not None
    assert pitr["deleted"]["deleted"] is True
    assert pitr["restored"]["instance_id"] == DRILL_INSTANCE

    dr = by_name["production-dr-copy"]
    assert dr["passed"] is True and dr["region"] == "ap-northeast-1"
    assert dr["snapshot"]["snapshot_id"] == snapshot and dr["tagged_snapshot"] == snapshot
    tags = drill_world.client("rds", "ap-northeast-1").describe_db_snapshots(DBSnapshotIdentifier=snapshot)[
        "DBSnapshots"
    ][0]["TagList"]
    assert {"Key": "backstop:restore-verified", "Value": "true"} in tags

    texts = sorted(m["text"] for m in slack.messages())
    assert len(texts) == 2, texts
    assert all("PASSED" in t for t in texts), texts


def test_drill_fails_on_empty_workflows_and_still_deletes(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    drill_world.plane.sql("DELETE FROM core.workflows")
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy_for(["production-pitr"]))

    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    got = states(dag_run)
    assert dag_run.state == "failed", got
    assert got[f"{PITR_TASKS}.verify"] == "failed"
    assert got[f"{PITR_TASKS}.delete_instance"] == "success"
    assert got[f"{PITR_TASKS}.report"] == "success"
    _assert_no_drill_instances(drill_world)

    (report,) = drill_world.reports().values()
    assert report["passed"] is False and report["failed_step"] == f"{PITR_TASKS}.verify"
    failed = [c for c in report["checks"] if not c["passed"]]
    assert [(c["name"], c["observed"]) for c in failed] == [("workflows-present", 0)]

    messages = slack.messages()
    assert messages and all("workflows-present" in m["text"] for m in messages), messages
    assert any("FAILED" in m["text"] for m in messages)
    assert drill_world.plane.sql("SELECT COUNT(*) FROM core.workflows")[0][0] == 0  # source untouched


def test_drill_fails_on_missed_rto(airflow_db, drill_world, slack, load_dag, policy_for, states):
    """Injected: an RTO objective of 1 s and a check that takes 1.5 s (pg_sleep) on the restore."""
    policy = policy_for(["production-pitr"], objectives={"rto": "1s", "rpo": "5m"})
    policy["drills"][0]["checks"].append(
        {
            "name": "slow-count",
            "sql": "SELECT (SELECT COUNT(*) FROM core.workflows) FROM pg_sleep(1.5)",
            "min_rows": 1,
        }
    )
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy)

    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    got = states(dag_run)
    assert dag_run.state == "failed", got
    assert got[f"{PITR_TASKS}.verify"] == "failed"
    _assert_no_drill_instances(drill_world)
    (report,) = drill_world.reports().values()
    assert all(c["passed"] for c in report["checks"])  # the data was fine ...
    assert report["rto_met"] is False and report["rto_seconds"] > 1  # ... but too slow
    assert any("RTO" in f for f in report["failures"]), report["failures"]
    assert any("RTO" in m["text"] for m in slack.messages())


def test_unmanaged_instance_with_the_drill_name_fails_clearly_and_is_kept(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    drill_world.client("rds").create_db_instance(
        DBInstanceIdentifier=DRILL_INSTANCE,
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        MasterUsername="someone",
        MasterUserPassword="not-ours-123",
        AllocatedStorage=20,
    )
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy_for(["production-pitr"]))

    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    got = states(dag_run)
    assert dag_run.state == "failed", got
    assert got[f"{PITR_TASKS}.preflight"] == "failed"
    assert DRILL_INSTANCE in drill_world.instances()  # not ours: never deleted
    (report,) = drill_world.reports().values()
    assert report["failed_step"] == f"{PITR_TASKS}.preflight"
    assert any("not tagged backstop:managed=true" in m["text"] for m in slack.messages())


def test_schedule_fires_on_the_first_sunday_of_each_month_0300_seoul():
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.trigger import CronTriggerTimetable as SchedulerTimetable

    from backstop.airflow.dag_defaults import cron_timetable
    from backstop.policy import load_policy

    declared = cron_timetable(load_policy(), "monthly-drill")
    timetable = SchedulerTimetable(declared.expression, timezone=declared.timezone)
    seoul = ZoneInfo("Asia/Seoul")
    restriction = TimeRestriction(earliest=datetime(2026, 11, 22, tzinfo=seoul), latest=None, catchup=False)
    last, fires = None, []
    for _ in range(12):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        fires.append(info.run_after.astimezone(seoul))
        last = DataInterval(info.run_after, info.run_after)
    for fire in fires:
        assert fire.weekday() == 6 and fire.day <= 7 and (fire.hour, fire.minute) == (3, 0), fire
    assert [f.month for f in fires] == [12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert fires[0].date().isoformat() == "2026-12-06"


@pytest.mark.parametrize(
    ("expectation", "value", "passed"),
    [
        ({"min_rows": 1}, 0, False),
        ({"min_rows": 1}, 5, True),
        ({"equals": "ok"}, "ok", True),
        ({"equals": 3}, 4, False),
        ({"max_age_seconds": 300}, datetime(2026, 11, 8, 2, 56, tzinfo=UTC), True),
        ({"max_age_seconds": 300}, datetime(2026, 11, 8, 2, 50, tzinfo=UTC), False),
        ({"max_age_seconds": 300}, None, False),
    ],
)
def test_check_expectations(expectation, value, passed):
    from backstop.drills.checks import evaluate
    from backstop.policy.drill_views import CheckSpec

    check = CheckSpec(name="c", sql="x", **expectation)
    assert evaluate(check, value, datetime(2026, 11, 8, 3, 0, tzinfo=UTC))[0] is passed


def test_drill_fails_when_the_restored_data_is_stale_and_still_deletes(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    """Failure mode "restored data stale": the newest heartbeat row is an hour old, as when
    replication or the application stopped writing long before the restore point."""
    drill_world.plane.sql("UPDATE core.heartbeat SET updated_at = now() - interval '1 hour'")
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy_for(["production-pitr"]))

    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    got = states(dag_run)
    assert dag_run.state == "failed", got
    assert got[f"{PITR_TASKS}.verify"] == "failed"
    assert got[f"{PITR_TASKS}.delete_instance"] == "success"
    _assert_no_drill_instances(drill_world)
    (report,) = drill_world.reports().values()
    failed = [c["name"] for c in report["checks"] if not c["passed"]]
    assert failed == ["heartbeat-fresh"], report["checks"]
    assert report["rpo_met"] is False, report
    texts = [m["text"] for m in slack.messages()]
    alerts = [t for t in texts if t.startswith("Backstop task failed")]
    assert len(alerts) == 1 and "heartbeat-fresh" in alerts[0], texts
    assert len(texts) == 2 and "FAILED" in texts[1 - texts.index(alerts[0])], texts  # + the summary
