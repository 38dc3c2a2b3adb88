"""ElastiCache restore drill against the moto server over HTTP: restore, verify, delete, guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import boto3
import pytest

from backstop.elasticache.drill import (
    CacheDrillReportOperator,
    CacheDrillRestoreOperator,
    CacheDrillTeardownOperator,
    CacheDrillVerifyOperator,
    CacheGroupWaitOperator,
    UnmanagedGroupError,
)
from backstop.elasticache.snapshot import CacheSnapshotOperator
from include.local.fleet_datastores import REDIS_GROUP

REGION = "ap-northeast-2"
FIRST_SUNDAY_0300_KST = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
DRILL_GROUP = f"{REDIS_GROUP}-drill-20261206"
COMMON = {"source_id": REDIS_GROUP, "drill_name": "triflow-redis-daily-drill", "timezone": "Asia/Seoul"}


@pytest.fixture
def ec(fleet, local_stack):
    return boto3.client("elasticache", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)


def _context(xcom: dict | None = None) -> dict:
    ti = SimpleNamespace(xcom_pull=lambda task_ids: (xcom or {}).get(task_ids))
    return {
        "logical_date": FIRST_SUNDAY_0300_KST,
        "run_id": "scheduled__2026-12-05T18:00:00+00:00",
        "dag_run": SimpleNamespace(run_type="scheduled"),
        "params": {},
        "ti": ti,
    }


def _snapshot(when: datetime) -> str:
    return CacheSnapshotOperator(
        task_id="snapshot",
        source_type="replication_group",
        source_id=REDIS_GROUP,
        tier="daily",
        policy_name="triflow-redis-daily",
        timezone="Asia/Seoul",
        region_name=REGION,
        waiter_delay=0,
    ).execute({"logical_date": when, "run_id": f"scheduled__{when:%Y%m%d}", "dag_run": None})["snapshot_name"]


def _restore() -> CacheDrillRestoreOperator:
    return CacheDrillRestoreOperator(
        task_id="restore",
        node_type="cache.t4g.small",
        policy_name="triflow-redis-daily",
        region_name=REGION,
        **COMMON,
    )


def _teardown() -> CacheDrillTeardownOperator:
    return CacheDrillTeardownOperator(task_id="teardown", region_name=REGION, **COMMON)


def _report(xcom: dict) -> dict:
    return CacheDrillReportOperator(
        task_id="report", report_bucket="triflow-backstop-reports", region_name=REGION, **COMMON
    ).execute(_context(xcom))


def test_drill_restores_the_newest_snapshot_verifies_and_deletes_the_group(ec):
    _snapshot(datetime(2026, 12, 3, 17, 0, tzinfo=UTC))
    newest = _snapshot(datetime(2026, 12, 4, 17, 0, tzinfo=UTC))
    ec.create_snapshot(SnapshotName="zz-unmanaged-newer", ReplicationGroupId=REDIS_GROUP)  # never chosen

    restored = _restore().execute(_context())
    assert restored["group_id"] == DRILL_GROUP and restored["snapshot_name"] == newest

    group = ec.describe_replication_groups(ReplicationGroupId=DRILL_GROUP)["ReplicationGroups"][0]
    tags = {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]}
    assert tags["backstop:managed"] == "true" and tags["backstop:drill"] == "true"
    assert tags["backstop:expires-at"].startswith("2026-")
    assert len(group["NodeGroups"]) == 2  # the source's two shards

    waited = CacheGroupWaitOperator(
        task_id="wait", group_id=DRILL_GROUP, deferrable=False, waiter_delay=0, region_name=REGION
    ).execute(_context())
    assert waited["state"] == "available"
    verified = CacheDrillVerifyOperator(
        task_id="verify", restore=restored, rto_seconds=3600, region_name=REGION, **COMMON
    ).execute(_context())
    assert verified["passed"] is True
    assert {c["name"] for c in verified["checks"]} == {
        "available",
        "managed-drill-tags",
        "node-groups",
        "endpoint",
        "rto",
    }
    assert verified["rto_seconds"] >= 0

    torn = _teardown().execute(_context())
    assert torn["teardown"] == "deleted"
    assert (
        ec.describe_replication_groups(ReplicationGroupId=DRILL_GROUP)["ReplicationGroups"][0]["Status"]
        == "deleting"
    )
    assert (
        ec.describe_replication_groups(ReplicationGroupId=REDIS_GROUP)["ReplicationGroups"][0]["Status"]
        == "available"
    )
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=ec.meta.endpoint_url)
    written = _report({"verify": verified, "teardown": torn})
    report = json.loads(
        s3.get_object(Bucket="triflow-backstop-reports", Key=written["report"].split("/", 3)[3])[
            "Body"
        ].read()
    )
    assert report["passed"] is True and report["teardown"] == "deleted" and report["rto_seconds"] is not None


def test_a_group_with_the_drill_name_that_backstop_did_not_make_is_never_deleted(ec):
    _snapshot(datetime(2026, 12, 4, 17, 0, tzinfo=UTC))
    ec.create_replication_group(
        ReplicationGroupId=DRILL_GROUP,
        ReplicationGroupDescription="someone's experiment",
        Engine="redis",
        Tags=[{"Key": "backstop:managed", "Value": "true"}],  # managed, but not a drill group
    )

    with pytest.raises(UnmanagedGroupError, match="not a Backstop drill group"):
        _restore().execute(_context())
    with pytest.raises(UnmanagedGroupError, match="not deleted"):
        _teardown().execute(_context())
    with pytest.raises(Exception, match="not confirmed deleted"):  # the run cannot end green
        _report({"teardown": None})

    assert (
        ec.describe_replication_groups(ReplicationGroupId=DRILL_GROUP)["ReplicationGroups"][0]["Status"]
        == "available"
    )


def test_a_drill_without_a_managed_snapshot_fails_and_creates_nothing(ec):
    ec.create_snapshot(SnapshotName="dba-manual", ReplicationGroupId=REDIS_GROUP)

    with pytest.raises(Exception, match="No available managed snapshot"):
        _restore().execute(_context())
    assert DRILL_GROUP not in {
        g["ReplicationGroupId"] for g in ec.describe_replication_groups()["ReplicationGroups"]
    }


def test_a_drill_that_misses_its_rto_fails(ec):
    _snapshot(datetime(2026, 12, 4, 17, 0, tzinfo=UTC))
    restored = _restore().execute(_context())
    restored["started_at"] = "2026-01-01T00:00:00+00:00"  # a drill that began long ago

    with pytest.raises(Exception, match="check rto"):
        CacheDrillVerifyOperator(
            task_id="verify", restore=restored, rto_seconds=3600, region_name=REGION, **COMMON
        ).execute(_context())
