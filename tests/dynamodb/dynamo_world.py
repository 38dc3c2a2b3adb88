"""Shared helpers of the DynamoDB tests: the shipped policy's jobs, contexts, clients on moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from backstop.policy import DEFAULT_POLICY_PATH, load_policy
from backstop.policy.dynamodb_views import dynamodb_drills, dynamodb_jobs, dynamodb_retention
from include.local.dynamodb_fleet import WORKFLOW_TABLE

PRIMARY, DR = "ap-northeast-2", "ap-northeast-1"
REPORT_BUCKET = "triflow-backstop-reports"
TZ = "Asia/Seoul"
# 02:00 KST on 2026-11-22 is 17:00 UTC the day before.
DAILY_0200_KST = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)

POLICY = load_policy(DEFAULT_POLICY_PATH)
JOB = dynamodb_jobs(POLICY, "daily")[0]
RULES = dynamodb_retention(POLICY, "daily")
DRILLS = {d["kind"]: d for d in dynamodb_drills(POLICY)}
assert JOB["table"] == WORKFLOW_TABLE


def context(
    when: datetime = DAILY_0200_KST, run_id: str | None = None, run_type: str = "scheduled", **params
):
    class _Run:
        pass

    run = _Run()
    run.run_type = run_type
    run.run_after = when
    return {
        "logical_date": when,
        "run_id": run_id or f"{run_type}__{when.isoformat()}",
        "dag_run": run,
        "params": params,
    }


def day(n: int) -> datetime:
    """The scheduled time n days after DAILY_0200_KST."""
    return DAILY_0200_KST + timedelta(days=n)


def client(service: str, region: str = PRIMARY):
    import os

    return boto3.client(service, region_name=region, endpoint_url=os.environ["BACKSTOP_AWS_ENDPOINT_URL"])
