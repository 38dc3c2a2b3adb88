"""Scenario 5 as a form: restore an S3 prefix to a point in time from object versions.

Trigger by hand with bucket, prefix and point_in_time (UTC). `plan` checks the form (a bad
value fails naming the field; nothing is listed or written), lists the versions and writes the
dry-run listing (reports/restores/s3/...-plan.json). If something is to be restored and
`dry_run` is off, `approve` waits under Required Actions; only then `apply` copies each
planned version back, checks its SHA-256 and writes the audit record. Wiring only.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Param, task

from backstop.airflow.dag_defaults import dag_kwargs
from backstop.policy import load_policy
from backstop.policy.datastore_views import s3_buckets
from backstop.s3backup.restore import S3RestoreApplyOperator, S3RestorePlanOperator

policy = load_policy()
buckets = {b["bucket"]: b["region"] for b in s3_buckets(policy)}

if buckets:
    aws = {"aws_conn_id": policy.defaults.aws_conn_id, "region_name": policy.defaults.region}
    with DAG(
        dag_id="s3_restore_prefix",
        description="Scenario 5: restore an S3 prefix to a point in time from versions, after approval",
        schedule=None,
        doc_md=__doc__,
        params={
            "bucket": Param(
                next(iter(buckets)),
                type="string",
                enum=sorted(buckets),
                title="Bucket",
                description="The protected bucket (from the policy's s3 section).",
            ),
            "prefix": Param(
                "",
                type="string",
                minLength=1,
                title="Key prefix",
                description="Only keys under this prefix are restored, e.g. uploads/workflows/.",
            ),
            "point_in_time": Param(
                "",
                type="string",
                format="date-time",
                title="Restore to (UTC)",
                description="Each key comes back as it was at this moment, e.g. 2026-11-22T01:30:00Z.",
            ),
            "dry_run": Param(
                False,
                type="boolean",
                title="Dry run: list only",
                description="On: write the listing of what would be restored and stop (no approval is "
                "asked). Off: the listing, then an approval in the UI before anything is written.",
            ),
        },
        **dag_kwargs(policy, tags=["s3", "restore"]),
    ) as dag:
        plan = S3RestorePlanOperator(
            task_id="plan",
            bucket="{{ params.bucket }}",
            prefix="{{ params.prefix }}",
            point_in_time="{{ params.point_in_time }}",
            buckets=buckets,
            report_bucket=policy.defaults.report_bucket,
            **aws,
        )

        @task.branch(task_id="route")
        def route(plan: dict, params=None) -> list[str]:
            return ["approve"] if plan["restores"] and not params.get("dry_run") else []

        approve = ApprovalOperator(
            task_id="approve",
            subject="Restore {{ ti.xcom_pull(task_ids='plan')['counts']['restore'] }} object(s) under "
            "s3://{{ params.bucket }}/{{ params.prefix }} to {{ params.point_in_time }}?",
            body="Listing: {{ ti.xcom_pull(task_ids='plan')['listing'] }}. "
            "{% for r in ti.xcom_pull(task_ids='plan')['restores'][:50] %}{{ r.key }} <- {{ r.version_id }}; "
            "{% endfor %}Approving writes each listed version back as the current version (nothing is deleted).",
            response_timeout=timedelta(hours=24),
        )
        apply = S3RestoreApplyOperator(
            task_id="apply", plan=plan.output, report_bucket=policy.defaults.report_bucket, **aws
        )
        route(plan.output) >> approve >> apply
