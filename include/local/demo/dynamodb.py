"""Demo scenarios for DynamoDB: the daily backup run (PITR turned on, a backup, the DR export),
then the monthly drill restoring all three ways, probing real items and deleting its tables."""

from __future__ import annotations

from include.local.demo.scenario import Lines, RunResult, Scenario, World, as_dict

TABLE = "triflow-workflow-state"


def summarize_backup(world: World, result: RunResult) -> Lines:
    lines = []
    for row in sorted(result.tasks, key=lambda r: r.task_id):
        value = as_dict(row.xcom)
        if row.task_id.endswith(".pitr"):
            lines.append(
                f"{row.task_id:40} {row.state:8} PITR {value.get('pitr')} (turned on now: {value.get('enabled_now')})"
            )
        elif row.task_id.endswith(".backup"):
            lines.append(f"{row.task_id:40} {row.state:8} {value.get('backup_name')} {value.get('how')}")
        elif ".export_to_" in row.task_id:
            lines.append(
                f"{row.task_id:40} {row.state:8} {value.get('item_count')} items -> s3://{value.get('bucket')}/"
                f"{value.get('data_prefix', '').split('/AWSDynamoDB/')[0]}"
            )
        elif row.task_id == "prune_backups":
            counts = value.get("counts") or {}
            lines.append(
                f"{row.task_id:40} {row.state:8} keep {counts.get('keep')}, delete {counts.get('delete')}"
            )
    return lines


def check_backup(world: World, result: RunResult) -> Lines:
    ddb = world.client("dynamodb")
    problems = []
    status = ddb.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    if status["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] != "ENABLED":
        problems.append("PITR is not enabled")
    if not ddb.list_backups(TableName=TABLE)["BackupSummaries"]:
        problems.append("no backup of the table")
    if result.slack:
        problems.append(f"unexpected Slack messages: {[m['text'] for m in result.slack]}")
    return problems


def summarize_drill(world: World, result: RunResult) -> Lines:
    return [m["text"] for m in result.slack]


def check_drill(world: World, result: RunResult) -> Lines:
    problems = []
    passed = [m for m in result.slack if "PASSED" in m["text"]]
    if len(passed) != 3:
        problems.append(f"expected 3 PASSED summaries, got {[m['text'] for m in result.slack]}")
    left = [
        t
        for r in ("ap-northeast-2", "ap-northeast-1")
        for t in world.client("dynamodb", r).list_tables()["TableNames"]
    ]
    if left != [TABLE]:
        problems.append(f"tables left behind: {left}")
    return problems


SCENARIOS = [
    Scenario(
        title="dynamodb_backup: the daily 02:00 KST run",
        dag_file="dynamodb_backup.py",
        dag_id="dynamodb_backup",
        expect_state="success",
        explain="PITR was off on the seed table: turned on (policy pitr: enable). Today's on-demand backup, "
        "owned through the ledger, and a point-in-time export into the Tokyo bucket; retention planned.",
        schedule="daily",
        summarize=summarize_backup,
        checks=check_backup,
    ),
    Scenario(
        title="dynamodb_drill: PITR, backup and DR-export restores probed, measured and deleted",
        dag_file="dynamodb_drill.py",
        dag_id="dynamodb_drill",
        expect_state="success",
        explain="Each restore lands in a -bsdrill- table, is probed on real items (a key, a count by query, "
        "the heartbeat for RPO), records what the restore dropped, and is deleted.",
        schedule="monthly-drill",
        summarize=summarize_drill,
        checks=check_drill,
    ),
]
