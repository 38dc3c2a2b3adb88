"""The bunker's retention: retention_prune's planner, operators and interlocks, with the bunker's role.

Bunker copies are made for real in the second account (a shared managed snapshot, copied by the
bunker's copy role). moto cannot backdate create times, so their ages come from an `after-call`
hook on the plan operator's own client that rewrites SnapshotCreateTime in the real
DescribeDBSnapshots responses (the house way: a fault the emulator cannot produce otherwise).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.bunker.retention import BunkerAccountCheckOperator
from backstop.policy import load_policy
from backstop.policy.bunker_views import bunker_retention_rules
from backstop.retention.operators import RetentionApplyOperator, RetentionPlanOperator
from include.local.bunker_fleet import BUNKER_ACCOUNT, BUNKER_REPORT_BUCKET
from tests.bunker.bunker_world import PROD, REGION, bunker, managed_snapshot, source

REAL_RUN = {
    "run_id": "manual__bunker",
    "params": {"dry_run": False, "confirm_delete": "DELETE"},
    "logical_date": None,
    "dag_run": None,
}
SEOUL = ZoneInfo("Asia/Seoul")


def fill_bunker(endpoint: str, weeks: int) -> dict[str, timedelta]:
    """`weeks` managed bunker copies (one a week back from now) plus one unmanaged: name -> age."""
    made = managed_snapshot()
    source("rds", endpoint).modify_db_snapshot_attribute(
        DBSnapshotIdentifier=made["snapshot_id"], AttributeName="restore", ValuesToAdd=[BUNKER_ACCOUNT]
    )
    rds = bunker("rds", endpoint)
    now = datetime.now(SEOUL)
    ages = {}
    for week in range(weeks):
        name = f"{PROD}-weekly-{now - timedelta(weeks=week):%Y%m%d}"
        tags = {**made["tags"], "backstop:source-arn": made["arn"]}
        rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=made["arn"],
            TargetDBSnapshotIdentifier=name,
            KmsKeyId="alias/backstop-bunker",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        ages[name] = timedelta(weeks=week)
    # A snapshot in the bunker that Backstop did not make (an old hand-made copy): never touched.
    rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier=made["arn"], TargetDBSnapshotIdentifier="dba-kept-by-hand"
    )
    ages["dba-kept-by-hand"] = timedelta(weeks=40)
    return ages


def aged(op: RetentionPlanOperator, ages: dict[str, timedelta]) -> None:
    """Rewrite each snapshot's create time to now - its age, in the operator's own responses."""
    now = datetime.now(UTC)

    def rewrite(parsed, **_):
        for snapshot in parsed.get("DBSnapshots", []):
            if snapshot["DBSnapshotIdentifier"] in ages:
                snapshot["SnapshotCreateTime"] = now - ages[snapshot["DBSnapshotIdentifier"]]

    op.client(REGION).meta.events.register("after-call.rds.DescribeDBSnapshots", rewrite)


def _plan_op(**kwargs) -> RetentionPlanOperator:
    """The plan task exactly as dags/bunker_retention.py wires it."""
    kwargs.setdefault("aws_conn_id", "aws_bunker_retention")
    return RetentionPlanOperator(
        task_id="plan_retention",
        region_name=REGION,
        regions=[REGION],
        rules=bunker_retention_rules(load_policy()),
        report_bucket=BUNKER_REPORT_BUCKET,
        alert_channel="#triflow-alerts",
        **kwargs,
    )


def _gfs_keeps(ages: dict[str, timedelta]) -> set[str]:
    """The shipped bunker rules by hand: the 5 newest weeks, the newest of each month, min_keep 2."""
    now = datetime.now(SEOUL)
    newest_first = sorted(ages, key=lambda n: ages[n])
    keep = set(newest_first[:5])  # one a week: the newest 5 weeks (and min_keep 2 within them)
    months: dict[tuple[int, int], str] = {}
    for name in newest_first:
        day = now - ages[name]
        months.setdefault((day.year, day.month), name)
    return keep | set(months.values())


def test_bunker_retention_prunes_by_gfs_and_leaves_unmanaged_copies_alone(fleet, local_stack, slack):
    endpoint = local_stack.aws_endpoint_url
    ages = fill_bunker(endpoint, weeks=10)
    managed = {n: a for n, a in ages.items() if n != "dba-kept-by-hand"}
    source_before = {
        s["DBSnapshotIdentifier"] for s in source("rds", endpoint).describe_db_snapshots()["DBSnapshots"]
    }
    plan_op = _plan_op()
    aged(plan_op, ages)

    plan = plan_op.execute(REAL_RUN)
    result = RetentionApplyOperator(
        task_id="apply_retention", aws_conn_id="aws_bunker_retention", region_name=REGION, plan=plan
    ).execute(REAL_RUN)

    left = {s["DBSnapshotIdentifier"] for s in bunker("rds", endpoint).describe_db_snapshots()["DBSnapshots"]}
    expected = _gfs_keeps(managed)
    assert left == expected | {"dba-kept-by-hand"}
    assert result["counts"]["deleted"] == len(managed) - len(expected) > 0
    assert plan["report"].startswith(
        f"s3://{BUNKER_REPORT_BUCKET}/reports/retention/"
    )  # in the bunker's bucket
    # The source account was not touched.
    assert {
        s["DBSnapshotIdentifier"] for s in source("rds", endpoint).describe_db_snapshots()["DBSnapshots"]
    } == (source_before)


def test_stale_bunker_copies_halt_pruning_like_retention_prune(fleet, local_stack, slack):
    """The newest bunker copy is older than the weekly tier's max_age (8 days): nothing is deleted."""
    endpoint = local_stack.aws_endpoint_url
    ages = {name: age + timedelta(days=20) for name, age in fill_bunker(endpoint, weeks=6).items()}
    plan_op = _plan_op()
    aged(plan_op, ages)

    plan = plan_op.execute(REAL_RUN)

    assert plan["counts"]["delete"] == 0 and plan["counts"]["groups"]["halted"] == 1
    (message,) = slack.messages()
    assert "pruning stopped" in message["text"] and PROD in message["text"]
    assert len(bunker("rds", endpoint).describe_db_snapshots()["DBSnapshots"]) == 7


def test_a_manual_run_is_a_dry_run_unless_delete_is_typed(fleet, local_stack):
    endpoint = local_stack.aws_endpoint_url
    ages = fill_bunker(endpoint, weeks=8)
    plan_op = _plan_op()
    aged(plan_op, ages)

    plan = plan_op.execute({**REAL_RUN, "params": {}})  # the form's defaults

    assert plan["dry_run"] is True and plan["counts"]["delete"] > 0
    RetentionApplyOperator(task_id="apply", aws_conn_id="aws_bunker_retention", plan=plan).execute(REAL_RUN)
    assert len(bunker("rds", endpoint).describe_db_snapshots()["DBSnapshots"]) == 9


def test_the_retention_gate_refuses_a_connection_outside_the_bunker(fleet, local_stack):
    ok = BunkerAccountCheckOperator(
        task_id="check", aws_conn_id="aws_bunker_retention", region_name=REGION, bunker_account=BUNKER_ACCOUNT
    ).execute(REAL_RUN)
    assert ok == {"bunker_account": BUNKER_ACCOUNT}

    with pytest.raises(AirflowFailException, match="not the bunker account"):
        BunkerAccountCheckOperator(
            task_id="check", aws_conn_id="aws_default", region_name=REGION, bunker_account=BUNKER_ACCOUNT
        ).execute(REAL_RUN)
