"""`dag.test()` of retention_prune against moto: deletes what the plan says, and the interlocks hold.

moto cannot backdate snapshot create times, so age is produced by moving "now": the planner
plans at the run's logical date, and a logical date in the future makes every snapshot older.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.policy import load_policy
from backstop.policy.views import retention_rules
from backstop.retention.operators import RetentionApplyOperator, RetentionPlanOperator
from backstop.retention.report import read_deletions
from tests.dag_loading import load_dag
from tests.retention.reports import deleting, report_plan
from tests.throttling import throttle

PROD = "triflow-ai-production-db"
MANAGED = [
    {"Key": "backstop:managed", "Value": "true"},
    {"Key": "backstop:policy", "Value": "triflow-rds-weekly"},
    {"Key": "backstop:tier", "Value": "weekly"},
]


def _shipped_policy() -> dict:
    import yaml

    from backstop.policy import DEFAULT_POLICY_PATH

    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    policy["defaults"]["retries"] = {"count": 0}
    return policy


def _seed_snapshots(rds) -> list[str]:
    names = [f"{PROD}-weekly-2026110{i}" for i in range(1, 5)]
    for name in names:  # created oldest first, seconds apart
        rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier=name, Tags=MANAGED)
    rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier="dba-hand-made")  # unmanaged
    return names


def _names(rds) -> set[str]:
    """Manual snapshot names; also asserts RDS's automated snapshots were never touched."""
    snapshots = rds.describe_db_snapshots()["DBSnapshots"]
    automated = {s["DBSnapshotIdentifier"] for s in snapshots if s["SnapshotType"] == "automated"}
    instances = rds.describe_db_instances()["DBInstances"]
    assert len(automated) == len(instances), automated  # one per instance, made by moto like RDS does
    return {s["DBSnapshotIdentifier"] for s in snapshots if s["SnapshotType"] == "manual"}


def _report(local_stack, prefix="reports/retention/") -> list[dict]:
    s3 = boto3.client("s3", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket="triflow-backstop-reports", Prefix=prefix).get("Contents", [])
    ]
    return [json.loads(s3.get_object(Bucket="triflow-backstop-reports", Key=k)["Body"].read()) for k in keys]


@pytest.fixture
def prune_dag(airflow_db, fleet, tmp_path, monkeypatch):
    return load_dag("retention_prune.py", "retention_prune", _shipped_policy(), tmp_path, monkeypatch)


def test_real_run_deletes_only_what_the_plan_says(prune_dag, rds, slack, local_stack):
    names = _seed_snapshots(rds)
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    dag_run = prune_dag.test(logical_date=tomorrow, run_conf={"dry_run": False, "confirm_delete": "DELETE"})

    assert dag_run.state == "success"
    # weekly/monthly/yearly rules keep the newest; min_keep 2 keeps the second newest.
    assert _names(rds) == {names[3], names[2], "dba-hand-made"}
    (report,) = _report(local_stack)
    assert report["dry_run"] is False
    decisions = {d["snapshot_id"]: (d["action"], d["reason"]) for d in report["decisions"]}
    assert decisions[names[0]][0] == "delete" and decisions[names[1]][0] == "delete"
    assert "min_keep" in decisions[names[2]][1]
    assert decisions["dba-hand-made"][0] == "ignore"
    assert slack.messages() == []


def test_manual_run_defaults_to_a_dry_run(prune_dag, rds, local_stack):
    names = _seed_snapshots(rds)

    dag_run = prune_dag.test(logical_date=datetime.now(UTC) + timedelta(days=1))

    assert dag_run.state == "success"
    assert _names(rds) == {*names, "dba-hand-made"}  # nothing deleted
    (report,) = _report(local_stack)
    assert report["dry_run"] is True
    assert report["counts"]["delete"] == 2  # what a real run would delete


def test_a_manual_run_deletes_only_with_the_typed_confirmation(prune_dag, rds, local_stack):
    """No UI toggle enables deletion. The form's dry-run switch defaults to on; typing DELETE
    with it on is still a dry run; switching it off without DELETE fails before deleting; only
    off AND DELETE deletes."""
    names = _seed_snapshots(rds)
    later = datetime.now(UTC) + timedelta(days=1)

    prune_dag.test(logical_date=later, run_conf={"confirm_delete": "DELETE"})
    assert _names(rds) == {*names, "dba-hand-made"}  # dry_run still on (its default): a dry run

    # every value given each time: dag.test() keeps one run's conf in the DAG's params for the next
    refused = prune_dag.test(
        logical_date=later + timedelta(minutes=1), run_conf={"dry_run": False, "confirm_delete": None}
    )
    assert refused.state == "failed"
    assert _names(rds) == {*names, "dba-hand-made"}  # switched off, nothing typed: refused

    prune_dag.test(
        logical_date=later + timedelta(minutes=2), run_conf={"dry_run": False, "confirm_delete": "delete"}
    )
    assert _names(rds) == {*names, "dba-hand-made"}  # not the exact word: refused

    prune_dag.test(
        logical_date=later + timedelta(minutes=3), run_conf={"dry_run": False, "confirm_delete": "DELETE"}
    )
    assert _names(rds) == {names[2], names[3], "dba-hand-made"}


def test_the_form_defaults_to_a_dry_run_and_scheduled_runs_still_delete(tmp_path, monkeypatch):
    """The switch shows ON by default (an explicit boolean true, not null), confirm_delete is
    optional (no required star), and a scheduled run is not turned into a dry run by it."""
    from types import SimpleNamespace

    from backstop.retention.operators import resolve_dry_run

    dag = load_dag("retention_prune.py", "retention_prune", _shipped_policy(), tmp_path, monkeypatch)
    schema = {k: dag.params.get_param(k).schema for k in ("dry_run", "confirm_delete")}
    assert dag.params["dry_run"] is True and schema["dry_run"]["type"] == "boolean"
    assert "null" in schema["confirm_delete"]["type"]
    defaults = dict(dag.params)
    scheduled = SimpleNamespace(run_type="scheduled")
    manual = SimpleNamespace(run_type="manual")
    assert resolve_dry_run({"params": defaults, "dag_run": scheduled}) is False
    assert resolve_dry_run({"params": defaults, "dag_run": manual}) is True


def test_stale_backups_halt_pruning_and_tell_slack(prune_dag, rds, slack):
    names = _seed_snapshots(rds)
    ten_days_later = datetime.now(UTC) + timedelta(days=10)  # weekly max_age is 8d

    dag_run = prune_dag.test(
        logical_date=ten_days_later, run_conf={"dry_run": False, "confirm_delete": "DELETE"}
    )

    assert dag_run.state == "success"
    assert _names(rds) == {*names, "dba-hand-made"}
    (message,) = slack.messages()
    assert PROD in message["text"] and "halted" in message["text"]


def test_a_halt_alerts_the_policys_own_channel(airflow_db, fleet, rds, slack, tmp_path, monkeypatch):
    """Issue "Trust" 5: retention alerts went to the default channel, not the policy's slack_channel."""
    policy = _shipped_policy()
    policy["rds_snapshots"][0]["slack_channel"] = "#dba-oncall"
    dag = load_dag("retention_prune.py", "retention_prune", policy, tmp_path, monkeypatch)
    _seed_snapshots(rds)

    dag.test(
        logical_date=datetime.now(UTC) + timedelta(days=10),
        run_conf={"dry_run": False, "confirm_delete": "DELETE"},
    )

    (message,) = slack.messages()
    assert message["channel"] == "#dba-oncall" and PROD in message["text"]


def test_clock_skew_aborts_the_whole_run(fleet, rds):
    """A snapshot dated an hour ahead (rewritten in the real DescribeDBSnapshots response)."""
    names = _seed_snapshots(rds)
    op = RetentionPlanOperator(
        task_id="plan_retention",
        regions=["ap-northeast-2"],
        rules=retention_rules(load_policy()),
        report_bucket="triflow-backstop-reports",
        alert_channel="#triflow-alerts",
    )

    def one_hour_ahead(parsed, **_):
        for snapshot in parsed.get("DBSnapshots", []):
            if snapshot["DBSnapshotIdentifier"] == names[1]:
                snapshot["SnapshotCreateTime"] = datetime.now(UTC) + timedelta(hours=1)

    op.client("ap-northeast-2").meta.events.register("after-call.rds.DescribeDBSnapshots", one_hour_ahead)
    with pytest.raises(AirflowFailException, match=f"Retention aborted, nothing deleted: .*{names[1]}"):
        op.execute(
            {
                "run_id": "t",
                "params": {"dry_run": False, "confirm_delete": "DELETE"},
                "logical_date": None,
                "dag_run": None,
            }
        )
    assert _names(rds) == {*names, "dba-hand-made"}


def test_throttled_deletes_complete_without_deleting_twice_or_extra(fleet, rds, local_stack):
    names = _seed_snapshots(rds)
    plan = report_plan(local_stack, deleting([*names[:2], "gone"]))  # "gone": already gone is fine
    op = RetentionApplyOperator(task_id="apply", plan=plan)
    outcomes = throttle(op.client("ap-northeast-2"), "DeleteDBSnapshot", times=3)

    result = op.execute({"run_id": "t"})

    assert result["deleted"] == names[:2] and result["already_gone"] == ["gone"]
    assert outcomes.count("sent") == 2  # each snapshot deleted exactly once, after the throttles
    assert _names(rds) == {names[2], names[3], "dba-hand-made"}


def test_apply_skips_a_snapshot_that_lost_its_managed_tag(fleet, rds, local_stack):
    names = _seed_snapshots(rds)
    arn = rds.describe_db_snapshots(DBSnapshotIdentifier=names[0])["DBSnapshots"][0]["DBSnapshotArn"]
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["backstop:managed"])
    plan = report_plan(local_stack, deleting([names[0]]))
    result = RetentionApplyOperator(task_id="apply", plan=plan).execute({"run_id": "t"})
    assert result["skipped"] == [names[0]] and names[0] in _names(rds)


def test_apply_refuses_a_plan_from_before_the_upgrade(fleet, rds):
    """The XCom of a plan task from before the report pointer (a run that spans an upgrade) has no
    planning time: its age cannot be proved, so it is refused (safe side) and nothing is deleted."""
    names = _seed_snapshots(rds)
    item = {"region": "ap-northeast-2", "db_type": "instance", "resource_id": PROD, "reason": "t"}
    plan = {"dry_run": False, "deletions": [{**item, "snapshot_id": n} for n in names[:2]]}
    with pytest.raises(AirflowFailException, match="unknown age"):
        RetentionApplyOperator(task_id="apply", plan=plan).execute({"run_id": "t"})
    assert _names(rds) == {*names, "dba-hand-made"}


def test_source_of_a_copy_in_flight_is_kept(fleet, rds, local_stack):
    """The plan reads in-flight copies from the DR region's inventory (status rewritten to 'copying')."""
    names = _seed_snapshots(rds)
    source_arn = rds.describe_db_snapshots(DBSnapshotIdentifier=names[0])["DBSnapshots"][0]["DBSnapshotArn"]
    dr = boto3.client("rds", region_name="ap-northeast-1", endpoint_url=local_stack.aws_endpoint_url)
    dr.copy_db_snapshot(
        SourceDBSnapshotIdentifier=source_arn,
        TargetDBSnapshotIdentifier=names[0],
        SourceRegion="ap-northeast-2",
        KmsKeyId="alias/backstop-dr",
        Tags=[*MANAGED, {"Key": "backstop:source-arn", "Value": source_arn}],
    )
    op = RetentionPlanOperator(
        task_id="plan_retention",
        regions=["ap-northeast-2", "ap-northeast-1"],
        rules=retention_rules(load_policy()),
        report_bucket="triflow-backstop-reports",
        alert_channel="#triflow-alerts",
    )

    def still_copying(parsed, **_):
        for snapshot in parsed.get("DBSnapshots", []):
            snapshot["Status"] = "copying"

    op.client("ap-northeast-1").meta.events.register("after-call.rds.DescribeDBSnapshots", still_copying)
    result = op.execute(
        {
            "run_id": "t",
            "params": {"dry_run": False, "confirm_delete": "DELETE"},
            "logical_date": None,
            "dag_run": None,
        }
    )

    s3 = boto3.client("s3", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)
    planned = list(read_deletions(s3, result["report"], etag=result["report_etag"]))
    deleted = {d["snapshot_id"] for d in planned if d["region"] == "ap-northeast-2"}
    assert deleted == {names[1]}  # names[0] would go too, but a copy of it is still in flight
