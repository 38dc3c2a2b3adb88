"""Helpers for retention tests: a report in the (moto) report bucket made from a hand-written plan."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from backstop.retention.planner import DELETE, Decision, Plan, SnapshotRecord
from backstop.retention.report import plan_xcom, write_report

BUCKET = "triflow-backstop-reports"
PROD = "triflow-ai-production-db"
MANAGED = [
    {"Key": "backstop:managed", "Value": "true"},
    {"Key": "backstop:policy", "Value": "triflow-rds-weekly"},
    {"Key": "backstop:tier", "Value": "weekly"},
]


def s3_client(local_stack):
    return boto3.client("s3", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)


def deleting(names, *, region="ap-northeast-2", resource=PROD, db_type="instance") -> Plan:
    """A plan whose only decisions are to delete `names` (reason "t")."""
    now = datetime.now(UTC)
    tags = {t["Key"]: t["Value"] for t in MANAGED}
    records = [
        SnapshotRecord(
            name,
            f"arn:aws:rds:{region}:123456789012:snapshot:{name}",
            db_type,
            resource,
            region,
            now,
            "available",
            "manual",
            tags,
        )  # fmt: skip
        for name in names
    ]
    return Plan(now=now, decisions=[Decision(r, DELETE, "t", now) for r in records], groups=[])


def report_plan(local_stack, plan: Plan, *, dry_run=False, key="reports/retention/test/t.json") -> dict:
    """Write `plan`'s report to the report bucket; returns the plan task's XCom pointing at it."""
    meta = {"dry_run": dry_run, "run_id": "t", "regions": ["ap-northeast-2"]}
    written = write_report(s3_client(local_stack), BUCKET, key, plan, meta)
    return plan_xcom(plan, written, dry_run=dry_run)
