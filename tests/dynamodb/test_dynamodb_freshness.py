"""The DynamoDB freshness source against moto: backup, DR export and PITR rows, red when missing."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest

from backstop.freshness.monitor import write_freshness_report
from backstop.policy import parse_policy
from include.local.dynamodb_fleet import WORKFLOW_TABLE
from tests.dag_loading import shipped_policy
from tests.dynamodb.test_dynamodb_drill import protect

PRIMARY, DR = "ap-northeast-2", "ap-northeast-1"


@pytest.fixture
def factory(local_stack):
    def make(service: str, region: str):
        return boto3.client(service, region_name=region, endpoint_url=local_stack.aws_endpoint_url)

    return make


def _rows(report):
    return {(r.resource_id, r.region): r for r in report.rows if r.kind == "dynamodb_table"}


def test_before_any_backup_every_row_is_red_and_pitr_off_is_named(fleet, factory):
    rows = _rows(write_freshness_report(parse_policy(shipped_policy()), factory))

    assert {k: r.status for k, r in rows.items()} == {
        (WORKFLOW_TABLE, PRIMARY): "red",
        (WORKFLOW_TABLE, DR): "red",
        (f"{WORKFLOW_TABLE} (PITR)", PRIMARY): "red",
    }
    assert "point-in-time recovery is DISABLED" in rows[(f"{WORKFLOW_TABLE} (PITR)", PRIMARY)].reason


def test_after_the_daily_run_backup_export_and_pitr_are_green_then_age(fleet, factory):
    backup, export = protect()
    policy = parse_policy(shipped_policy())

    report = write_freshness_report(policy, factory)
    rows = _rows(report)
    assert {k: r.status for k, r in rows.items()} == {
        (WORKFLOW_TABLE, PRIMARY): "green",
        (WORKFLOW_TABLE, DR): "green",
        (f"{WORKFLOW_TABLE} (PITR)", PRIMARY): "green",
    }
    assert rows[(WORKFLOW_TABLE, PRIMARY)].newest_backup_id == backup["backup_name"]

    later = report.generated_at + timedelta(days=3)  # daily max_age is 2d
    aged = _rows(write_freshness_report(policy, factory, now=later))
    assert aged[(WORKFLOW_TABLE, PRIMARY)].status == "red"
    assert aged[(f"{WORKFLOW_TABLE} (PITR)", PRIMARY)].status == "red"  # older than the 5 min RPO
