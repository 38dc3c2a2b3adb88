"""End to end: `dag.test()` of dynamodb_backup and dynamodb_drill against moto and the Slack recorder."""

from __future__ import annotations

from datetime import UTC, datetime

from backstop.dynamodb.export_ledger import ExportLedger
from include.local.dynamodb_fleet import DYNAMODB_DR_BUCKET, WORKFLOW_TABLE
from tests.dag_loading import load_dag, shipped_policy, task_states
from tests.dynamodb.dynamo_world import DAILY_0200_KST, DR, client

FIRST_SUNDAY_DEC_0300_KST = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
GROUP = WORKFLOW_TABLE.replace(".", "_")


def test_daily_run_turns_pitr_on_backs_up_exports_then_the_drill_restores_all_three(
    airflow_db, fleet, slack, tmp_path, monkeypatch
):
    backup_dag = load_dag("dynamodb_backup.py", "dynamodb_backup", shipped_policy(), tmp_path, monkeypatch)

    run = backup_dag.test(logical_date=DAILY_0200_KST)

    assert run.state == "success", task_states(run)
    assert set(task_states(run).values()) == {"success"}
    assert task_states(run)["prune_exports"] == "success"  # after the export, over the export ledger
    pitr = client("dynamodb").describe_continuous_backups(TableName=WORKFLOW_TABLE)
    assert pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"
    ] == ("ENABLED")
    names = [
        b["BackupName"] for b in client("dynamodb").list_backups(TableName=WORKFLOW_TABLE)["BackupSummaries"]
    ]
    assert names == [f"{WORKFLOW_TABLE}-daily-20261122"]
    marker = f"dynamodb/{WORKFLOW_TABLE}/20261122/_backstop-export.json"
    assert client("s3", DR).head_object(Bucket=DYNAMODB_DR_BUCKET, Key=marker)
    assert slack.messages() == []

    drill_dag = load_dag("dynamodb_drill.py", "dynamodb_drill", shipped_policy(), tmp_path, monkeypatch)
    drill_run = drill_dag.test(logical_date=FIRST_SUNDAY_DEC_0300_KST)

    assert drill_run.state == "success", task_states(drill_run)
    assert sorted(task_states(drill_run)) == sorted(
        f"{WORKFLOW_TABLE}__{k}" for k in ("pitr", "backup", "dr_export")
    )
    summaries = [m["text"] for m in slack.messages()]
    assert len(summaries) == 3 and all("PASSED" in s for s in summaries), summaries
    leftovers = [t for r in ("ap-northeast-2", DR) for t in client("dynamodb", r).list_tables()["TableNames"]]
    assert leftovers == [WORKFLOW_TABLE]
    export_record = ExportLedger(client("s3"), "triflow-backstop-reports").get(
        DR, WORKFLOW_TABLE, f"dynamodb/{WORKFLOW_TABLE}/20261122"
    )
    assert export_record.restore_verified_at is not None  # export retention keeps the newest verified


def test_a_stranger_backup_fails_its_task_alerts_once_and_the_export_still_runs(
    airflow_db, fleet, slack, tmp_path, monkeypatch
):
    stranger = client("dynamodb").create_backup(
        TableName=WORKFLOW_TABLE, BackupName=f"{WORKFLOW_TABLE}-daily-20261122"
    )
    dag = load_dag("dynamodb_backup.py", "dynamodb_backup", shipped_policy(), tmp_path, monkeypatch)

    run = dag.test(logical_date=DAILY_0200_KST)

    assert run.state == "failed"
    states = task_states(run)
    assert states[f"{GROUP}.backup"] == "failed"
    assert states[f"{GROUP}.export_to_{DR}"] == "success"
    [alert] = slack.messages()
    assert "backup" in alert["text"] and "did not make" in str(alert["blocks"])
    [only] = client("dynamodb").list_backups(TableName=WORKFLOW_TABLE)["BackupSummaries"]
    assert only["BackupArn"] == stranger["BackupDetails"]["BackupArn"]
