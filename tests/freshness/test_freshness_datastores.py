"""Freshness rows for ElastiCache snapshots, their DR exports and S3 dated backup copies (moto over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from backstop.elasticache.export import CacheSnapshotExportOperator
from backstop.elasticache.snapshot import CacheSnapshotOperator
from backstop.freshness.monitor import evaluate
from backstop.freshness.registry import all_targets
from backstop.policy import parse_policy
from backstop.s3backup.backup_copy import S3BackupCopyOperator
from include.local.fleet_datastores import (
    FILES_BACKUP_BUCKET,
    FILES_BUCKET,
    REDIS_EXPORT_BUCKET,
    REDIS_EXPORT_DR_BUCKET,
    REDIS_GROUP,
)
from tests.dag_loading import shipped_policy

REGION, DR = "ap-northeast-2", "ap-northeast-1"


@pytest.fixture
def factory(local_stack):
    return lambda service, region: boto3.client(
        service, region_name=region, endpoint_url=local_stack.aws_endpoint_url
    )


def _rows(factory, now: datetime) -> dict:
    policy = parse_policy(shipped_policy())
    targets = [t for t in all_targets(policy) if t.kind.startswith(("elasticache_", "s3_"))]
    report = evaluate(
        targets,
        [],
        client_factory=factory,
        report_bucket=policy.defaults.report_bucket,
        report_region=policy.defaults.region,
        now=now,
    )
    return {(r.kind, r.region): r for r in report.rows}


def test_missing_backups_are_red_then_fresh_backups_green_then_stale_red(fleet, factory):
    rows = _rows(factory, datetime.now(UTC))
    assert {k: r.status for k, r in rows.items()} == {
        ("elasticache_replication_group", REGION): "red",
        ("elasticache_replication_group", DR): "red",
        ("s3_backup_copy", REGION): "red",
    }

    context = {"logical_date": datetime.now(UTC), "run_id": "scheduled__now", "dag_run": None}
    snapshot = CacheSnapshotOperator(
        task_id="s",
        source_id=REDIS_GROUP,
        tier="daily",
        policy_name="triflow-redis-daily",
        timezone="Asia/Seoul",
        region_name=REGION,
        waiter_delay=0,
    ).execute(context)
    CacheSnapshotExportOperator(
        task_id="e",
        snapshot=snapshot,
        bucket=REDIS_EXPORT_BUCKET,
        dr_bucket=REDIS_EXPORT_DR_BUCKET,
        dr_region=DR,
        region_name=REGION,
        waiter_delay=0,
        deferrable=False,
    ).execute(context)
    S3BackupCopyOperator(
        task_id="b",
        bucket=FILES_BUCKET,
        backup_bucket=FILES_BACKUP_BUCKET,
        prefix="backups",
        timezone="Asia/Seoul",
        region_name=REGION,
    ).execute(context)

    fresh = _rows(factory, datetime.now(UTC))
    assert {k: r.status for k, r in fresh.items()} == dict.fromkeys(fresh, "green")
    assert fresh[("elasticache_replication_group", REGION)].newest_backup_id == snapshot["snapshot_name"]

    later = _rows(factory, datetime.now(UTC) + timedelta(days=3))  # the daily schedule's max_age is 2d
    assert {k: r.status for k, r in later.items()} == dict.fromkeys(later, "red")
