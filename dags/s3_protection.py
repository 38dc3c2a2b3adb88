"""Daily S3 protection: posture of every protected bucket, and the dated backup copies.

`posture` checks versioning, replication, Object Lock and lifecycle against the `s3:` policy
(alert only). `backup_copy_<bucket>` makes the incremental, verified dated copy of Runbook 3
step 3 for each bucket with `backup_copy`. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, on_policy_schedule
from backstop.policy import load_policy
from backstop.policy.datastore_views import s3_buckets
from backstop.s3backup.backup_copy import S3BackupCopyOperator
from backstop.s3backup.posture import S3PostureOperator

policy = load_policy()
buckets = s3_buckets(policy)

if buckets:
    channel = policy.s3.slack_channel or policy.defaults.slack.channel
    with DAG(
        dag_id="s3_protection",
        **on_policy_schedule(
            policy, "S3 bucket posture and dated incremental backup copies", policy.s3.schedule
        ),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["s3"], channel=channel),
    ) as dag:
        S3PostureOperator(
            task_id="posture",
            buckets=buckets,
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=policy.defaults.region,
        )
        for b in buckets:
            if b["backup_copy"]:
                S3BackupCopyOperator(
                    task_id=f"backup_copy_{b['bucket']}",
                    bucket=b["bucket"],
                    backup_bucket=b["backup_copy"]["bucket"],
                    prefix=b["backup_copy"]["prefix"],
                    timezone=policy.defaults.timezone,
                    aws_conn_id=policy.defaults.aws_conn_id,
                    region_name=b["region"],
                )
