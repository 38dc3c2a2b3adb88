"""DynamoDB backups (phase 9.1), one DAG per tier of the policy's `dynamodb:` section.

Per protected table (a task group): `pitr` (point-in-time recovery on: turned on, or an alert,
per policy) -> `backup` (today's on-demand backup `<table>-<tier>-<YYYYMMDD>`, created or
adopted, owned through the ledger; a same-named stranger fails the task and is left alone)
-> `export_to_<region>` per DR region (a point-in-time export into the DR bucket: the
cross-region copy, named in Backstop's export ledger). Beside them, `prune_backups` applies the
retention rules with the RDS planner and its interlocks, and `prune_exports` (after the exports)
the same rules to the DR exports the ledger names; a manual run only plans unless `dry_run` is switched off and `confirm_delete` typed DELETE.
Wiring only.
"""

from __future__ import annotations

import re

from airflow.sdk import DAG, TaskGroup

from backstop.airflow.dag_defaults import dag_kwargs, on_policy_schedule
from backstop.airflow.notifier import SlackFailureNotifier
from backstop.dynamodb.backups import DynamoDbBackupOperator, DynamoDbPitrOperator
from backstop.dynamodb.export import DynamoDbExportOperator
from backstop.dynamodb.export_retention import DynamoDbExportRetentionOperator
from backstop.dynamodb.retention import DynamoDbRetentionOperator
from backstop.policy import load_policy
from backstop.policy.dynamodb_views import dynamodb_jobs, dynamodb_retention, dynamodb_tiers
from backstop.retention.operators import deletion_params

policy = load_policy()
defaults = policy.defaults
aws = {"aws_conn_id": defaults.aws_conn_id, "deferrable": defaults.deferrable}
ledger = {"ledger_bucket": defaults.report_bucket, "ledger_region": defaults.region}


def _group_id(table: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", table)


for tier in dynamodb_tiers(policy):
    with DAG(
        dag_id="dynamodb_backup" if tier == "daily" else f"dynamodb_{tier}_backup",
        **on_policy_schedule(
            policy, f"DynamoDB PITR check, on-demand backups, DR exports and retention ({tier})", tier
        ),
        doc_md=__doc__,
        params=deletion_params("backups"),
        **dag_kwargs(policy, tags=["dynamodb", "backup"]),
    ) as dag:
        jobs = dynamodb_jobs(policy, tier)
        exports = []
        for job in jobs:
            alert = (
                {
                    "on_failure_callback": SlackFailureNotifier(
                        channel=job["alert_channel"], slack_conn_id=defaults.slack.conn_id
                    )
                }
                if job["alert_channel"]
                else {}
            )
            with TaskGroup(group_id=_group_id(job["table"])):
                pitr = DynamoDbPitrOperator(task_id="pitr", job=job, **aws, **alert)
                backup = DynamoDbBackupOperator(
                    task_id="backup", job=job, timezone=defaults.timezone, **ledger, **aws, **alert
                )
                pitr >> backup
                for dr in job["dr_regions"]:
                    export = DynamoDbExportOperator(
                        task_id=f"export_to_{dr['region']}",
                        job=job,
                        dr=dr,
                        timezone=defaults.timezone,
                        **ledger,
                        **aws,
                        **alert,
                    )
                    pitr >> export
                    exports.append(export)
        DynamoDbRetentionOperator(
            task_id="prune_backups",
            jobs=jobs,
            rules=dynamodb_retention(policy, tier),
            region_name=defaults.region,
            clock_skew_seconds=defaults.clock_skew_tolerance.total_seconds(),
            aws_conn_id=defaults.aws_conn_id,
            **ledger,
        )
        if exports:  # after today's exports succeeded: a failing export alerts on its own
            exports >> DynamoDbExportRetentionOperator(
                task_id="prune_exports",
                jobs=jobs,
                rules=dynamodb_retention(policy, tier),
                region_name=defaults.region,
                clock_skew_seconds=defaults.clock_skew_tolerance.total_seconds(),
                aws_conn_id=defaults.aws_conn_id,
                **ledger,
            )
