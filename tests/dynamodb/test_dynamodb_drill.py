"""DynamoDB restore drills against the moto server over HTTP, on the seed table's real items.

Nothing is patched: moto restores (PITR, from backup), exports to S3 and imports from it for
real, so the probes read real items. moto ignores RestoreDateTime (a PITR restore copies the
table as it is now), which the drill report's restore point cannot show.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.dynamodb.backups import DynamoDbBackupOperator, DynamoDbPitrOperator
from backstop.dynamodb.drill import DynamoDbDrillOperator, NotADrillTable, delete_drill_table
from backstop.dynamodb.export import DynamoDbExportOperator
from backstop.dynamodb.ledger import Ledger
from include.local.dynamodb_fleet import WORKFLOW_TABLE
from tests.dynamodb.dynamo_world import DR, DRILLS, JOB, PRIMARY, REPORT_BUCKET, TZ, client, context

DRILL_TABLE = {
    "pitr": f"{WORKFLOW_TABLE}-bsdrill-pitr-20261122",
    "backup": f"{WORKFLOW_TABLE}-bsdrill-backup-20261122",
    "dr_export": f"{WORKFLOW_TABLE}-bsdrill-dr-export-20261122",
}


def drill(kind: str) -> DynamoDbDrillOperator:
    return DynamoDbDrillOperator(
        task_id=f"drill_{kind}",
        drill=DRILLS[kind],
        timezone=TZ,
        ledger_bucket=REPORT_BUCKET,
        ledger_region=PRIMARY,
        report_bucket=REPORT_BUCKET,
        alert_channel="#triflow-alerts",
        waiter_delay=0.2,
        deferrable=False,
    )


def protect():
    """What the daily DAG does first: PITR on, today's backup, the DR export."""
    DynamoDbPitrOperator(task_id="pitr", job=JOB).execute(context())
    backup = DynamoDbBackupOperator(
        task_id="backup",
        job=JOB,
        ledger_bucket=REPORT_BUCKET,
        ledger_region=PRIMARY,
        timezone=TZ,
        waiter_delay=0,
    ).execute(context())
    export = DynamoDbExportOperator(
        task_id="export", job=JOB, dr=JOB["dr_regions"][0], timezone=TZ, waiter_delay=0.2, deferrable=False
    ).execute(context())
    return backup, export


def tables(region=PRIMARY) -> set[str]:
    return set(client("dynamodb", region).list_tables()["TableNames"])


@pytest.mark.parametrize("kind", ["pitr", "backup", "dr_export"])
def test_a_drill_restores_probes_real_items_measures_and_deletes_its_table(fleet, slack, kind):
    backup, export = protect()

    report = drill(kind).execute(context())

    assert report["passed"] is True, report["failures"]
    assert {c["name"]: c["passed"] for c in report["checks"]} == {
        "workflow-exists": True,
        "runs-of-wf-0001": True,
        "heartbeat-fresh": True,
    }
    assert (
        next(c for c in report["checks"] if c["name"] == "runs-of-wf-0001")["observed"] == 7
    )  # META and 6 runs
    assert report["rto_met"] is True and report["rpo_met"] is True
    assert report["teardown"] == "deleted"
    region = DR if kind == "dr_export" else PRIMARY
    assert DRILL_TABLE[kind] not in tables(region) and WORKFLOW_TABLE in tables(PRIMARY)
    dropped = {f["setting"] for f in report["parity_findings"] if f["dropped"]}
    assert {"tags", "pitr"} <= dropped  # what a restore never brings along, recorded
    stored = client("s3").get_object(Bucket=REPORT_BUCKET, Key=report["report_uri"].split("/", 3)[3])
    assert json.loads(stored["Body"].read())["passed"] is True
    assert any("PASSED" in m["text"] for m in slack.messages())
    if kind == "backup":
        assert report["restored_from"] == backup["backup_name"]
        record = Ledger(client("s3"), REPORT_BUCKET).get(PRIMARY, WORKFLOW_TABLE, backup["backup_name"])
        assert record.restore_verified_at is not None
    if kind == "dr_export":
        assert report["restored_from"].startswith("s3://triflow-backstop-dynamodb-dr/dynamodb/")
        assert export["item_count"] == 3 * 7 + 1


def test_a_drill_fails_naming_the_probe_when_a_probed_item_is_missing(fleet, slack):
    protect()
    client("dynamodb").delete_item(
        TableName=WORKFLOW_TABLE, Key={"pk": {"S": "WORKFLOW#wf-0001"}, "sk": {"S": "META"}}
    )

    with pytest.raises(AirflowFailException, match="check workflow-exists: item pk='WORKFLOW#wf-0001'"):
        drill("pitr").execute(context())

    assert DRILL_TABLE["pitr"] not in tables()  # deleted all the same
    assert any("FAILED" in m["text"] and "workflow-exists" in m["text"] for m in slack.messages())


def test_the_drill_deletes_only_tables_it_made(fleet):
    ddb = client("dynamodb")
    # the source table: no drill name, no drill tags
    with pytest.raises(NotADrillTable, match="not a drill table"):
        delete_drill_table(ddb, WORKFLOW_TABLE)
    # a table with a drill's name that Backstop did not tag
    ddb.create_table(
        TableName=DRILL_TABLE["pitr"],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(NotADrillTable, match="did not make it"):
        delete_drill_table(ddb, DRILL_TABLE["pitr"])
    # ... and a drill run meeting it fails in preflight and leaves it alone
    protect()
    with pytest.raises(AirflowFailException, match="did not make it"):
        drill("pitr").execute(context())
    assert {WORKFLOW_TABLE, DRILL_TABLE["pitr"]} <= tables()


def test_a_leftover_drill_table_backstop_made_is_replaced(fleet):
    protect()
    first = drill("pitr")
    first.execute(context())
    ddb = client("dynamodb")
    ddb.restore_table_to_point_in_time(SourceTableName=WORKFLOW_TABLE, TargetTableName=DRILL_TABLE["pitr"])
    arn = ddb.describe_table(TableName=DRILL_TABLE["pitr"])["Table"]["TableArn"]
    ddb.tag_resource(
        ResourceArn=arn,
        Tags=[{"Key": "backstop:managed", "Value": "true"}, {"Key": "backstop:drill", "Value": "true"}],
    )

    report = drill("pitr").execute(context(run_id="manual__again"))

    assert report["passed"] is True and DRILL_TABLE["pitr"] not in tables()
