"""DynamoDB DR export retention: the RDS planner over the export ledger, against moto over HTTP.

The exports are made by the real export operator (moto runs ExportTableToPointInTime and writes
the data file into the DR bucket). moto reports no ExportTime, and cannot backdate an export,
so an `after-call` hook on the export operator's own client puts the run's time (02:01 KST of
the run date) into the DescribeExport answers it reads (a fault the emulator cannot produce
otherwise). "Now" moves by the run's logical date, as in the other retention tests.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.awsrequest import AWSResponse

from backstop.dynamodb.export import DynamoDbExportOperator
from backstop.dynamodb.export_ledger import ExportLedger
from backstop.dynamodb.export_retention import DynamoDbExportRetentionOperator
from include.local.dynamodb_fleet import WORKFLOW_TABLE
from tests.dynamodb.dynamo_world import DR, JOB, PRIMARY, REPORT_BUCKET, RULES, TZ, client, context, day

DR_SPEC = JOB["dr_regions"][0]
BUCKET = DR_SPEC["bucket"]


def prefix(date: str) -> str:
    return f"{DR_SPEC['prefix']}/{WORKFLOW_TABLE}/{date}"


def objects(under: str) -> list[str]:
    listed = client("s3", DR).list_objects_v2(Bucket=BUCKET, Prefix=f"{under}/").get("Contents", [])
    return [o["Key"] for o in listed]


def make_exports(days, *, ledger: bool = True) -> None:
    """An export per scheduled day by the export operator (named in the ledger unless told not to)."""
    client("dynamodb").update_continuous_backups(
        TableName=WORKFLOW_TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    op = DynamoDbExportOperator(
        task_id="export",
        job=JOB,
        dr=DR_SPEC,
        timezone=TZ,
        ledger_bucket=REPORT_BUCKET if ledger else None,
        ledger_region=PRIMARY,
        waiter_delay=0.05,
        deferrable=False,
    )
    when: list = []

    def export_time(parsed, **_):
        parsed["ExportDescription"]["ExportTime"] = when[-1] + timedelta(minutes=1)

    op.client(PRIMARY).meta.events.register("after-call.dynamodb.DescribeExport", export_time)
    for n in days:
        when.append(day(n))
        assert op.execute(context(day(n)))["how"] == "created"


def retention(rules=None) -> DynamoDbExportRetentionOperator:
    return DynamoDbExportRetentionOperator(
        task_id="prune_exports",
        jobs=[JOB],
        rules=RULES if rules is None else rules,
        ledger_bucket=REPORT_BUCKET,
        ledger_region=PRIMARY,
        region_name=PRIMARY,
    )


def decisions(result) -> dict[str, tuple[str, str]]:
    return {row["snapshot"]: (row["decision"], row["reason"]) for row in result["decisions"]}


def ledger() -> ExportLedger:
    return ExportLedger(client("s3"), REPORT_BUCKET)


def test_gfs_prunes_whole_export_prefixes_and_never_an_export_the_ledger_does_not_name(fleet):
    make_exports([-5], ledger=False)  # an old export with a marker but no ledger record: not ours
    make_exports(range(60))  # 2026-11-22 .. 2027-01-20
    client("s3", DR).put_object(Bucket=BUCKET, Key=prefix("manual-dump") + "/items.json", Body=b"{}")

    result = retention().execute(context(day(59)))

    plan = decisions(result)
    assert plan[prefix("20270114")][0] == "keep" and "daily" in plan[prefix("20270114")][1]
    assert plan[prefix("20270117")][0] == "keep" and "weekly" in plan[prefix("20270117")][1]
    assert plan[prefix("20261231")][0] == "keep" and "monthly #2 (2026-12)" in plan[prefix("20261231")][1]
    assert plan[prefix("20261215")][0] == "delete"
    assert plan[prefix("20261220")][0] == "delete"  # a week's newest, but 31 days old
    assert plan[prefix("20261117")] == ("ignore", "not managed by Backstop: never touched")
    assert plan[prefix("manual-dump")] == ("ignore", "not managed by Backstop: never touched")
    assert objects(prefix("20261215")) == [] and objects(prefix("20261220")) == []  # data and marker
    kept = objects(prefix("20270114"))
    assert any("/data/" in k for k in kept) and prefix("20270114") + "/_backstop-export.json" in kept
    assert len(objects(prefix("20261117"))) == 2 and objects(prefix("manual-dump"))
    assert result["counts"]["delete"] == len(result["deleted"]) > 0 and result["failed"] == []
    record = ledger().get(DR, WORKFLOW_TABLE, prefix("20261215"))
    assert record.deleted_at is not None and record.deleted_objects == 2  # the record stays as the trail
    report = client("s3").get_object(Bucket=REPORT_BUCKET, Key=result["report"].split(f"{REPORT_BUCKET}/")[1])
    assert b'"dry_run": false' in report["Body"].read()


def test_a_rerun_deletes_nothing_twice(fleet):
    make_exports(range(12))
    first = retention().execute(context(day(11)))
    assert first["deleted"]
    again, calls = retention(), []
    again.s3(DR).meta.events.register("provide-client-params.s3.DeleteObjects", lambda **kw: calls.append(kw))

    second = again.execute(context(day(11)))

    assert calls == [] and second["deleted"] == [] and second["counts"]["delete"] == 0


def test_an_interrupted_delete_fails_the_task_and_the_next_run_finishes_only_what_is_left(fleet):
    """The marker's delete is refused (an S3 fault moto cannot produce: a hook answers the call)."""
    make_exports(range(12))
    op, deleted_keys, asked = retention(), [], []

    def remember(params, **_):
        asked.append([o["Key"] for o in params["Delete"]["Objects"]])

    def refuse_markers(**_):
        if any(k.endswith("_backstop-export.json") for k in asked[-1]):
            error = {"Key": asked[-1][0], "Code": "InternalError", "Message": "injected"}
            return AWSResponse("https://s3", 200, {}, None), {"Errors": [error]}
        return None

    op.s3(DR).meta.events.register("provide-client-params.s3.DeleteObjects", remember)
    op.s3(DR).meta.events.register("before-call.s3.DeleteObjects", refuse_markers)
    with pytest.raises(AirflowException, match="not \\(fully\\) deleted"):
        op.execute(context(day(11)))
    half_done = [
        p
        for p in (prefix(f"202611{d}") for d in range(22, 30))
        if objects(p) == [p + "/_backstop-export.json"]
    ]
    assert half_done  # data gone, marker (and the live ledger record) left

    rerun = retention()
    rerun.s3(DR).meta.events.register(
        "provide-client-params.s3.DeleteObjects",
        lambda params, **_: deleted_keys.extend(o["Key"] for o in params["Delete"]["Objects"]),
    )
    rerun.execute(context(day(11)))

    assert sorted(deleted_keys) == sorted(p + "/_backstop-export.json" for p in half_done)
    assert all(objects(p) == [] for p in half_done)


def test_stale_exports_halt_pruning_and_alert(fleet):
    make_exports(range(10))
    before = {n: objects(prefix(f"{20261122 + n}")) for n in range(9)}

    with pytest.raises(AirflowFailException, match="halted"):
        retention().execute(context(day(14)))  # newest export 5 days old; daily max_age is 2d

    assert {n: objects(prefix(f"{20261122 + n}")) for n in range(9)} == before


def test_a_manual_run_only_plans_and_the_newest_restore_verified_export_is_kept(fleet):
    make_exports(range(12))
    old = prefix("20261123")
    ledger().update(ledger().get(DR, WORKFLOW_TABLE, old), restore_verified_at="2026-11-24T00:00:00Z")

    dry = retention().execute(context(day(11), run_type="manual"))
    assert dry["dry_run"] is True and dry["counts"]["delete"] > 0 and dry["deleted"] == []
    assert objects(prefix("20261124"))

    wet = retention().execute(context(day(11), run_type="manual", dry_run=False, confirm_delete="DELETE"))

    assert decisions(wet)[old] == ("keep", "newest restore-verified snapshot") and objects(old)
    assert decisions(wet)[prefix("20261124")][0] == "delete" and objects(prefix("20261124")) == []
