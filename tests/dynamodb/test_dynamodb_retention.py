"""DynamoDB backup retention: the RDS planner through the ledger adapter, against moto over HTTP.

moto stamps every backup with the time it was made and cannot backdate it, so a backup's age
is injected: an `after-call` hook on the operator's own DynamoDB client rewrites
BackupCreationDateTime in real ListBackups answers to 02:00 KST (+1 min) of the date that ends
the backup's name (a fault the emulator cannot produce otherwise). "Now" moves by the run's
logical date, as in the RDS retention tests.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.dynamodb.backups import DynamoDbBackupOperator
from backstop.dynamodb.ledger import Ledger
from backstop.dynamodb.retention import DynamoDbRetentionOperator
from include.local.dynamodb_fleet import WORKFLOW_TABLE
from tests.dynamodb.dynamo_world import JOB, PRIMARY, REPORT_BUCKET, RULES, TZ, client, context, day

KST = ZoneInfo(TZ)
_DATE = re.compile(r"-(\d{8})$")


def _aged(summaries, future: set[str] = frozenset()):
    for item in summaries:
        match = _DATE.search(item["BackupName"])
        if match:
            made = datetime.strptime(match.group(1), "%Y%m%d").replace(hour=2, minute=1, tzinfo=KST)
            item["BackupCreationDateTime"] = made + (
                timedelta(days=400) if item["BackupName"] in future else timedelta(0)
            )


def retention(rules=None, future: set[str] = frozenset()) -> DynamoDbRetentionOperator:
    op = DynamoDbRetentionOperator(
        task_id="prune",
        jobs=[JOB],
        rules=RULES if rules is None else rules,
        ledger_bucket=REPORT_BUCKET,
        ledger_region=PRIMARY,
        region_name=PRIMARY,
    )
    op.client(PRIMARY).meta.events.register(
        "after-call.dynamodb.ListBackups",
        lambda parsed, **_: _aged(parsed.get("BackupSummaries", []), future),
    )
    return op


def make_backups(days) -> dict[str, str]:
    """A managed backup per scheduled day, made by the backup operator; name -> ARN."""
    out = {}
    op = DynamoDbBackupOperator(
        task_id="backup",
        job=JOB,
        ledger_bucket=REPORT_BUCKET,
        ledger_region=PRIMARY,
        timezone=TZ,
        waiter_delay=0,
    )
    for n in days:
        result = op.execute(context(day(n)))
        out[result["backup_name"]] = result["backup_arn"]
    return out


def name(date: str) -> str:
    return f"{WORKFLOW_TABLE}-daily-{date}"


def remaining() -> set[str]:
    return {
        b["BackupName"] for b in client("dynamodb").list_backups(TableName=WORKFLOW_TABLE)["BackupSummaries"]
    }


def decisions(result) -> dict[str, tuple[str, str]]:
    return {row["snapshot"]: (row["decision"], row["reason"]) for row in result["decisions"]}


def test_gfs_keeps_7_days_weekly_for_30_days_monthly_for_a_year_and_never_touches_a_stranger(fleet):
    make_backups(range(60))  # 2026-11-22 .. 2027-01-20
    client("dynamodb").create_backup(TableName=WORKFLOW_TABLE, BackupName="dba-before-migration-20261201")

    result = retention().execute(context(day(59)))

    plan = decisions(result)
    assert plan[name("20270114")][0] == "keep" and "daily" in plan[name("20270114")][1]
    assert plan[name("20270117")][0] == "keep" and "weekly" in plan[name("20270117")][1]
    assert plan[name("20261231")][0] == "keep" and "monthly #2 (2026-12)" in plan[name("20261231")][1]
    assert plan[name("20261130")][0] == "keep" and "monthly #3 (2026-11)" in plan[name("20261130")][1]
    assert plan[name("20261215")][0] == "delete"
    assert plan[name("20261220")][0] == "delete"  # a week's newest, but 31 days old
    assert plan["dba-before-migration-20261201"] == ("ignore", "not managed by Backstop: never touched")
    left = remaining()
    assert name("20261215") not in left and name("20261220") not in left
    assert {name("20270114"), name("20261231"), name("20261130"), "dba-before-migration-20261201"} <= left
    assert result["counts"]["delete"] == len(result["deleted"]) > 0
    record = Ledger(client("s3"), REPORT_BUCKET).get(PRIMARY, WORKFLOW_TABLE, name("20261215"))
    assert record.deleted_at is not None  # the ledger keeps the record, marked deleted


def test_min_keep_keeps_the_newest_two_even_when_no_rule_does(fleet):
    make_backups(range(3))
    rules = {"triflow-dynamodb": {**RULES["triflow-dynamodb"], "keep": [{"period": "daily", "count": 1}]}}

    result = retention(rules).execute(context(day(2)))

    plan = decisions(result)
    assert plan[name("20261124")][0] == "keep"
    assert plan[name("20261123")] == ("keep", "min_keep: the newest 2 available snapshots are kept")
    assert plan[name("20261122")][0] == "delete"
    assert remaining() == {name("20261124"), name("20261123")}


def test_stale_backups_halt_pruning_and_alert(fleet):
    make_backups(range(10))
    before = remaining()

    with pytest.raises(AirflowFailException, match="halted"):
        retention().execute(context(day(14)))  # newest backup 5 days old; daily max_age is 2d

    assert remaining() == before


def test_a_manual_run_only_plans_unless_delete_is_typed(fleet):
    make_backups(range(12))
    before = remaining()

    dry = retention().execute(context(day(11), run_type="manual"))  # the form's default: dry run on
    assert dry["dry_run"] is True and dry["counts"]["delete"] > 0 and remaining() == before

    with pytest.raises(AirflowFailException, match="confirm_delete"):  # switched off, not typed
        retention().execute(context(day(11), run_type="manual", dry_run=False))
    assert remaining() == before

    wet = retention().execute(context(day(11), run_type="manual", dry_run=False, confirm_delete="DELETE"))
    assert wet["dry_run"] is False and len(remaining()) == len(before) - wet["counts"]["delete"]


def test_the_newest_restore_verified_backup_is_kept(fleet):
    make_backups(range(12))
    ledger = Ledger(client("s3"), REPORT_BUCKET)
    ledger.update(
        ledger.get(PRIMARY, WORKFLOW_TABLE, name("20261123")), restore_verified_at="2026-11-24T00:00:00Z"
    )

    result = retention().execute(context(day(11)))

    assert decisions(result)[name("20261123")] == ("keep", "newest restore-verified snapshot")
    assert decisions(result)[name("20261124")][0] == "delete"


def test_a_policy_without_rules_is_refused_and_nothing_is_deleted(fleet):
    make_backups(range(12))
    before = remaining()

    with pytest.raises(AirflowFailException, match="no usable retention rule"):
        retention({"triflow-dynamodb": None}).execute(context(day(11)))
    assert remaining() == before


def test_a_backup_from_the_future_aborts_the_plan(fleet):
    made = make_backups(range(12))
    before = remaining()

    with pytest.raises(AirflowFailException, match="aborted, nothing deleted"):
        retention(future={next(iter(made))}).execute(context(day(11)))
    assert remaining() == before
