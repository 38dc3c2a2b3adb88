"""PITR enforcement and on-demand backups against the moto server over HTTP.

moto makes backups AVAILABLE at once and cannot backdate them; no fault is injected here.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.dynamodb.backups import BackupRefused, DynamoDbBackupOperator, DynamoDbPitrOperator
from backstop.dynamodb.ledger import Ledger, LedgerRecord, record_key
from include.local.dynamodb_fleet import WORKFLOW_TABLE
from tests.dynamodb.dynamo_world import JOB, PRIMARY, REPORT_BUCKET, TZ, client, context

NAME = f"{WORKFLOW_TABLE}-daily-20261122"  # 02:00 KST on 22 Nov is still the 21st in UTC


def backup_operator(**kwargs) -> DynamoDbBackupOperator:
    return DynamoDbBackupOperator(
        task_id="backup",
        job=JOB,
        ledger_bucket=REPORT_BUCKET,
        ledger_region=PRIMARY,
        timezone=TZ,
        waiter_delay=0,
        **kwargs,
    )


def _backups(name=NAME):
    found = client("dynamodb").list_backups(TableName=WORKFLOW_TABLE)["BackupSummaries"]
    return [b for b in found if b["BackupName"] == name]


def test_pitr_is_turned_on_when_the_policy_says_enable(fleet):
    ddb = client("dynamodb")
    before = ddb.describe_continuous_backups(TableName=WORKFLOW_TABLE)["ContinuousBackupsDescription"]
    assert before["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"

    result = DynamoDbPitrOperator(task_id="pitr", job=JOB).execute(context())

    assert result["enabled_now"] is True and result["pitr"] == "ENABLED"
    assert result["lag_seconds"] is not None and result["lag_seconds"] >= 0
    after = ddb.describe_continuous_backups(TableName=WORKFLOW_TABLE)["ContinuousBackupsDescription"]
    assert after["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    again = DynamoDbPitrOperator(task_id="pitr", job=JOB).execute(context())
    assert again["enabled_now"] is False


def test_pitr_off_with_policy_alert_fails_and_changes_nothing(fleet):
    job = {**JOB, "pitr": "alert"}
    with pytest.raises(AirflowFailException, match="pitr: alert"):
        DynamoDbPitrOperator(task_id="pitr", job=job).execute(context())
    status = client("dynamodb").describe_continuous_backups(TableName=WORKFLOW_TABLE)
    assert status["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"
    ] == ("DISABLED")


def test_a_backup_is_created_named_by_the_run_date_and_recorded_in_the_ledger(fleet):
    result = backup_operator().execute(context())

    assert result["how"] == "created" and result["backup_name"] == NAME
    assert result["status"] == "AVAILABLE"
    [backup] = _backups()
    assert backup["BackupArn"] == result["backup_arn"]
    obj = client("s3").get_object(Bucket=REPORT_BUCKET, Key=record_key(PRIMARY, WORKFLOW_TABLE, NAME))
    record = json.loads(obj["Body"].read())
    assert record["backup_arn"] == result["backup_arn"] and record["policy"] == "triflow-dynamodb"
    tags = client("s3").get_object_tagging(
        Bucket=REPORT_BUCKET, Key=record_key(PRIMARY, WORKFLOW_TABLE, NAME)
    )
    assert {"Key": "backstop:managed", "Value": "true"} in tags["TagSet"]


def test_a_rerun_adopts_the_backup_instead_of_making_a_second(fleet):
    first = backup_operator().execute(context())
    second = backup_operator().execute(context(run_id="manual__retry"))

    assert second["how"] == "adopted" and second["backup_arn"] == first["backup_arn"]
    assert len(_backups()) == 1


def test_a_retry_after_create_adopts_the_backup_the_ledger_only_intended(fleet):
    """The task died between CreateBackup and the ledger update: the intent adopts it."""
    from datetime import UTC, datetime

    ledger = Ledger(client("s3"), REPORT_BUCKET)
    ledger.put(
        LedgerRecord(
            backup_name=NAME,
            table=WORKFLOW_TABLE,
            region=PRIMARY,
            policy="triflow-dynamodb",
            tier="daily",
            run_id="scheduled__first-try",
            intent_at=datetime.now(UTC).isoformat(),
        )
    )
    made = client("dynamodb").create_backup(TableName=WORKFLOW_TABLE, BackupName=NAME)["BackupDetails"]

    result = backup_operator().execute(context())

    assert result["how"] == "adopted" and result["backup_arn"] == made["BackupArn"]
    assert ledger.get(PRIMARY, WORKFLOW_TABLE, NAME).backup_arn == made["BackupArn"]
    assert len(_backups()) == 1


def test_a_same_named_backup_backstop_did_not_make_is_refused_and_left_alone(fleet):
    stranger = client("dynamodb").create_backup(TableName=WORKFLOW_TABLE, BackupName=NAME)["BackupDetails"]

    with pytest.raises(BackupRefused, match="Backstop did not make"):
        backup_operator().execute(context())

    [only] = _backups()
    assert only["BackupArn"] == stranger["BackupArn"]  # not deleted, no second backup
    assert Ledger(client("s3"), REPORT_BUCKET).get(PRIMARY, WORKFLOW_TABLE, NAME) is None


def test_a_stranger_made_after_backstops_own_backup_is_refused_too(fleet):
    backup_operator().execute(context())
    client("dynamodb").create_backup(TableName=WORKFLOW_TABLE, BackupName=NAME)

    with pytest.raises(BackupRefused):
        backup_operator().execute(context(run_id="manual__again"))
    assert len(_backups()) == 2
