"""Restore plans and check results as the pure drill tests need them (no AWS, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from backstop.drills.checks import CheckResult
from backstop.drills.plan import RestorePlan, SnapshotRef, SourceConfig
from backstop.policy.drill_views import CheckSpec, RecoveryObjectives

STARTED = datetime(2026, 11, 7, 18, 0, 5, 123456, tzinfo=UTC)
POINT = STARTED - timedelta(minutes=5)
KMS = "arn:aws:kms:ap-northeast-2:123456789012:key/prod"
DR_KMS = "arn:aws:kms:ap-northeast-1:123456789012:key/dr"


def pitr_plan(**changes: Any) -> RestorePlan:
    plan = RestorePlan(
        name="production-pitr",
        kind="pitr",
        source="triflow-ai-production-db",
        region="ap-northeast-2",
        restore_region="ap-northeast-2",
        database="triflow",
        credentials_secret="triflow/production/db-master",
        credentials_conn_id=None,
        checks=(
            CheckSpec("workflows-present", "SELECT COUNT(*) FROM core.workflows", min_rows=1),
            CheckSpec("heartbeat-fresh", "SELECT MAX(updated_at) FROM core.heartbeat", max_age_seconds=300.0),
        ),
        objectives=RecoveryObjectives(rto_seconds=3600.0, rpo_seconds=300.0),
        instance_id="triflow-ai-production-db-drill-20261108",
        instance_class="db.t4g.medium",
        started_at=STARTED,
        expires_at=STARTED.replace(microsecond=0) + timedelta(hours=3),
        source_config=SourceConfig(
            instance_id="triflow-ai-production-db",
            engine="postgres",
            engine_version="16.3",
            encrypted=True,
            kms_key_id=KMS,
            db_subnet_group="triflow-prod-db",
            vpc_security_group_ids=("sg-1", "sg-2"),
        ),
        tags={"backstop:managed": "true", "backstop:drill": "true"},
        restore_point=POINT,
        restore_time=POINT,
        notes=("a note from planning",),
    )
    return replace(plan, **changes)


def dr_plan(**changes: Any) -> RestorePlan:
    snapshot = SnapshotRef(
        "triflow-ai-production-db-weekly-20261101", "arn:snap", STARTED - timedelta(days=6), DR_KMS, True
    )
    return replace(
        pitr_plan(),
        name="production-dr-copy",
        kind="dr_snapshot",
        restore_region="ap-northeast-1",
        snapshot=snapshot,
        restore_point=snapshot.created_at,
        restore_time=None,
        **changes,
    )


def restored(**changes: Any) -> dict[str, Any]:
    """A DescribeDBInstances item of the restored instance."""
    return {
        "DBInstanceIdentifier": "triflow-ai-production-db-drill-20261108",
        "Engine": "postgres",
        "EngineVersion": "16.3",
        "StorageEncrypted": True,
        "KmsKeyId": KMS,
        "Endpoint": {"Address": "drill.example.internal", "Port": 5432},
        **changes,
    }


def result(
    name: str, passed: bool = True, *, newest: datetime | None = None, message: str = "ok"
) -> CheckResult:
    return CheckResult(
        name=name,
        sql="SELECT 1",
        expectation=">= 1",
        observed=1 if passed else 0,
        passed=passed,
        message=message,
        seconds=0.01,
        freshness=newest is not None,
        newest=newest.isoformat() if newest else None,
    )
