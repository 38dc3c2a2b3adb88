"""ElastiCache .rdb export retention: the RDS planner over the export ledger, against moto over HTTP.

Past days' snapshots are made with the tags a past run would have written (moto cannot
backdate; ages come from `backstop:created-at`, as in test_cache_snapshots.py), then exported
by the real export operator (the local stack's CopySnapshot emulation writes one .rdb per
shard), which copies them to the DR bucket and names them in the export ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest

from backstop.elasticache.export import CacheSnapshotExportOperator
from backstop.elasticache.export_ledger import CacheExportLedger
from backstop.elasticache.export_retention import CacheExportRetentionOperator
from backstop.elasticache.retention import retention_rules
from include.local.fleet_datastores import REDIS_EXPORT_BUCKET, REDIS_EXPORT_DR_BUCKET, REDIS_GROUP

REGION, DR = "ap-northeast-2", "ap-northeast-1"
POLICY = "triflow-redis-daily"
REPORTS = "triflow-backstop-reports"
NOW = datetime(2026, 11, 21, 17, 10, tzinfo=UTC)  # 2026-11-22 02:10 Asia/Seoul
EXPORT = {"bucket": REDIS_EXPORT_BUCKET, "dr_bucket": REDIS_EXPORT_DR_BUCKET, "dr_region": DR}


@pytest.fixture
def aws(fleet, local_stack):
    return lambda service, region=REGION: boto3.client(
        service, region_name=region, endpoint_url=local_stack.aws_endpoint_url
    )


def name(day: int) -> str:
    return f"{REDIS_GROUP}-daily-202611{day:02d}"


def exported(aws, days) -> None:
    """A managed snapshot per day (as that day's run tagged it), exported and recorded."""
    ec = aws("elasticache")
    for day in days:
        tags = {
            "backstop:managed": "true",
            "backstop:policy": POLICY,
            "backstop:source": REDIS_GROUP,
            "backstop:created-at": f"2026-11-{day - 1:02d}T17:00:05Z",
        }
        ec.create_snapshot(
            SnapshotName=name(day),
            ReplicationGroupId=REDIS_GROUP,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        CacheSnapshotExportOperator(
            task_id="export",
            snapshot={"snapshot_name": name(day)},
            ledger_bucket=REPORTS,
            region_name=REGION,
            waiter_delay=0,
            deferrable=False,
            **EXPORT,
        ).execute({"run_id": "scheduled__x"})


def files(aws, region: str, bucket: str) -> set[str]:
    return {o["Key"] for o in aws("s3", region).list_objects_v2(Bucket=bucket).get("Contents", [])}


def prune() -> CacheExportRetentionOperator:
    return CacheExportRetentionOperator(
        task_id="prune_exports",
        source_ids=[REDIS_GROUP],
        policy_name=POLICY,
        rules=retention_rules(timedelta(days=5), 2, timedelta(days=2), "Asia/Seoul"),
        export=EXPORT,
        ledger_bucket=REPORTS,
        region_name=REGION,
    )


def context(run_type: str = "scheduled", **params) -> dict:
    return {
        "logical_date": NOW,
        "run_id": f"{run_type}__x",
        "dag_run": SimpleNamespace(run_type=run_type),
        "params": params,
    }


def rdb(days) -> set[str]:
    return {f"{name(d)}-{shard:04d}.rdb" for d in days for shard in (1, 2)}


def test_exports_older_than_five_days_are_deleted_in_both_buckets_and_unrecorded_files_never(aws):
    exported(aws, range(12, 23))  # 2026-11-12 .. 2026-11-22
    s3 = aws("s3")
    s3.put_object(Bucket=REDIS_EXPORT_BUCKET, Key=f"{name(1)}-0001.rdb", Body=b"REDIS not ours")  # no record
    s3.put_object(Bucket=REDIS_EXPORT_BUCKET, Key="dba-dump-0001.rdb", Body=b"REDIS someone's")

    result = prune().execute(context())

    assert files(aws, REGION, REDIS_EXPORT_BUCKET) == rdb(range(18, 23)) | {
        f"{name(1)}-0001.rdb",
        "dba-dump-0001.rdb",
    }
    assert files(aws, DR, REDIS_EXPORT_DR_BUCKET) == rdb(range(18, 23))
    assert len(result["deleted"]) == 12 and result["failed"] == []  # 6 snapshots x 2 buckets
    ignored = {r["snapshot"] for r in result["decisions"] if r["decision"] == "ignore"}
    assert ignored == {name(1), "dba-dump"}
    record = CacheExportLedger(s3, REPORTS).get(REGION, name(12))
    assert set(record.deleted) == {f"{REGION}/{REDIS_EXPORT_BUCKET}", f"{DR}/{REDIS_EXPORT_DR_BUCKET}"}


def test_a_rerun_deletes_nothing_twice_and_a_manual_run_only_plans(aws):
    exported(aws, range(16, 23))
    dry = prune().execute(context("manual"))
    assert dry["dry_run"] is True and dry["deleted"] == [] and dry["counts"]["delete"] == 4
    assert files(aws, DR, REDIS_EXPORT_DR_BUCKET) == rdb(range(16, 23))

    prune().execute(context())
    again, calls = prune(), []
    again.s3(DR).meta.events.register("provide-client-params.s3.DeleteObjects", lambda **kw: calls.append(kw))
    again.s3(REGION).meta.events.register(
        "provide-client-params.s3.DeleteObjects", lambda **kw: calls.append(kw)
    )
    second = again.execute(context())

    assert calls == [] and second["deleted"] == [] and second["counts"]["delete"] == 0


def test_stale_exports_halt_pruning(aws):
    exported(aws, range(14, 18))  # newest export 2026-11-17: 5 days old, the tier's max_age is 2 days
    before = files(aws, REGION, REDIS_EXPORT_BUCKET)

    with pytest.raises(Exception, match="export pruning halted"):
        prune().execute(context())

    assert files(aws, REGION, REDIS_EXPORT_BUCKET) == before
