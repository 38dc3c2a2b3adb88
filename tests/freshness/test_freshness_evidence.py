"""The evidence contract the DR console reads: keys, frozen typed rows, read_latest."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from pydantic import ValidationError

from backstop.freshness.evidence import (
    LATEST_KEY,
    DrillResult,
    FreshnessReport,
    FreshnessRow,
    read_latest,
    run_key,
)

AT = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)


def _row(**over) -> FreshnessRow:
    values = dict(
        policy="triflow-rds-weekly",
        kind="rds_instance",
        resource_id="triflow-ai-production-db",
        region="ap-northeast-1",
        role="dr",
        newest_backup_id="triflow-ai-production-db-weekly-20261122",
        newest_backup_at=AT,
        age_s=60.0,
        max_age_s=8 * 86400.0,
        rpo_s=300.0,
        status="green",
        reason="fresh",
        last_drill=DrillResult(name="production-dr-copy", passed=True, at=AT, rto_s=2.0, rpo_s=0.0),
    )
    values.update(over)
    return FreshnessRow(**values)


def test_rows_are_frozen_and_strict():
    row = _row()
    with pytest.raises(ValidationError):
        row.status = "red"
    with pytest.raises(ValidationError):
        _row(status="purple")
    with pytest.raises(ValidationError):
        _row(role="replica")
    assert row.key == "triflow-rds-weekly/rds_instance/triflow-ai-production-db/ap-northeast-1"


def test_run_keys_sort_by_time():
    assert run_key(AT) == "freshness/runs/20261122T031500Z.json"


def test_read_latest_is_none_before_the_first_run_then_the_report(local_stack):
    s3 = boto3.client("s3", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)
    bucket = "fresh-evidence-contract"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
    assert read_latest(s3, bucket) is None

    report = FreshnessReport.of(
        [_row(), _row(region="ap-northeast-2", role="source", status="red")], AT, "r1"
    )
    s3.put_object(Bucket=bucket, Key=LATEST_KEY, Body=report.to_json().encode())

    again = read_latest(s3, bucket)
    assert again == report
    assert again.counts == {"green": 1, "amber": 0, "red": 1}
