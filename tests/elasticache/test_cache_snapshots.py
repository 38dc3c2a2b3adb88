"""ElastiCache snapshots, retention and posture against the moto server over HTTP.

moto 5.2.5 returns no NodeSnapshots (so no SnapshotCreateTime): ages come from the
`backstop:created-at` tag Backstop writes at creation, and older days' snapshots are made here
with the same tags a past run would have written (moto cannot backdate).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from backstop.elasticache.posture import CachePostureOperator
from backstop.elasticache.retention import CacheRetentionOperator, retention_rules
from backstop.elasticache.snapshot import CacheSnapshotOperator
from backstop.naming import from_tag_list
from backstop.snapshots.guards import UnmanagedResourceError
from include.local.fleet_datastores import REDIS_GROUP

REGION = "ap-northeast-2"
POLICY = "triflow-redis-daily"
DAY_0200_KST = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)  # 2026-11-22 02:00 Asia/Seoul
TODAY = f"{REDIS_GROUP}-daily-20261122"


@pytest.fixture
def ec(fleet, local_stack):
    return boto3.client("elasticache", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)


def _context(run_id: str = "scheduled__2026-11-21T17:00:00+00:00", when: datetime = DAY_0200_KST, **params):
    return {
        "logical_date": when,
        "run_id": run_id,
        "dag_run": SimpleNamespace(run_type="scheduled" if run_id.startswith("scheduled") else "manual"),
        "params": params,
    }


def _snapshot_op(**kwargs) -> CacheSnapshotOperator:
    return CacheSnapshotOperator(
        task_id="snapshot",
        source_type="replication_group",
        source_id=kwargs.pop("source_id", REDIS_GROUP),
        tier="daily",
        policy_name=POLICY,
        timezone="Asia/Seoul",
        region_name=REGION,
        waiter_delay=0,
        **kwargs,
    )


def _tags(ec, name):
    arn = ec.describe_snapshots(SnapshotName=name)["Snapshots"][0]["ARN"]
    return from_tag_list(ec.list_tags_for_resource(ResourceName=arn)["TagList"])


def test_creates_a_named_managed_snapshot(ec):
    result = _snapshot_op().execute(_context())

    assert result["snapshot_name"] == TODAY and result["adopted"] is False
    assert result["status"] == "available" and result["source_id"] == REDIS_GROUP
    tags = _tags(ec, TODAY)
    assert tags["backstop:managed"] == "true"
    assert tags["backstop:policy"] == POLICY and tags["backstop:source"] == REDIS_GROUP
    assert tags["backstop:created-at"].endswith("Z")


def test_a_rerun_adopts_the_managed_snapshot(ec):
    _snapshot_op().execute(_context())
    again = _snapshot_op().execute(_context(run_id="manual__retry"))

    assert again["adopted"] is True
    assert [
        s["SnapshotName"] for s in ec.describe_snapshots(ReplicationGroupId=REDIS_GROUP)["Snapshots"]
    ] == [TODAY]


def test_an_unmanaged_snapshot_with_the_name_is_refused_and_untouched(ec):
    ec.create_snapshot(
        SnapshotName=TODAY, ReplicationGroupId=REDIS_GROUP, Tags=[{"Key": "owner", "Value": "dba"}]
    )

    with pytest.raises(UnmanagedResourceError, match="not a manual snapshot tagged backstop:managed=true"):
        _snapshot_op().execute(_context())

    assert _tags(ec, TODAY) == {"owner": "dba"}


def test_a_missing_replication_group_fails_at_once(ec):
    with pytest.raises(AirflowFailException, match="does not exist"):
        _snapshot_op(source_id="triflow-ai-ghost").execute(_context())


def test_a_snapshot_still_creating_defers_to_the_trigger(ec):
    """moto makes snapshots available at once: an after-call hook on the operator's own client
    rewrites SnapshotStatus to `creating` (a state the emulator cannot produce)."""
    op = _snapshot_op(deferrable=True)

    served: list[str] = []

    def creating(parsed, **_):
        if parsed.get("Snapshots") and not served:  # the first look only
            parsed["Snapshots"][0]["SnapshotStatus"] = "creating"
            served.append("creating")

    op.hook.conn.meta.events.register("after-call.elasticache.DescribeSnapshots", creating)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(_context())

    assert served == ["creating"]
    trigger = deferred.value.trigger
    assert type(trigger).__name__ == "CacheSnapshotAvailableTrigger" and trigger.snapshot_name == TODAY
    assert trigger.look() == ("success", f"snapshot {TODAY} is available")  # the trigger's own client
    result = op.execute_complete(_context(), {"status": "success", "snapshot_name": TODAY, "message": "ok"})
    assert result["snapshot_name"] == TODAY


def _past_snapshot(ec, day: int, managed: bool = True, policy: str = POLICY) -> str:
    name = f"{REDIS_GROUP}-daily-202611{day:02d}"
    tags = {"backstop:created-at": f"2026-11-{day - 1:02d}T17:00:05Z"}
    if managed:
        tags |= {"backstop:managed": "true", "backstop:policy": policy, "backstop:source": REDIS_GROUP}
    ec.create_snapshot(
        SnapshotName=name,
        ReplicationGroupId=REDIS_GROUP,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return name


def _prune(context) -> dict:
    return CacheRetentionOperator(
        task_id="prune",
        source_ids=[REDIS_GROUP],
        policy_name=POLICY,
        rules=retention_rules(timedelta(days=5), 2, timedelta(days=2), "Asia/Seoul"),
        report_bucket="triflow-backstop-reports",
        region_name=REGION,
    ).execute(context)


def _names(ec) -> set[str]:
    return {s["SnapshotName"] for s in ec.describe_snapshots(ReplicationGroupId=REDIS_GROUP)["Snapshots"]}


def test_retention_keeps_five_days_and_never_touches_unmanaged(ec):
    days = [_past_snapshot(ec, d) for d in range(12, 23)]  # 2026-11-12 .. 2026-11-22
    unmanaged = f"{REDIS_GROUP}-dba-before-upgrade"
    ec.create_snapshot(SnapshotName=unmanaged, ReplicationGroupId=REDIS_GROUP)

    result = _prune(_context(when=DAY_0200_KST + timedelta(minutes=10)))

    assert result["dry_run"] is False
    assert set(result["deleted"]) == set(days[:-5]) and len(result["deleted"]) == 6
    assert _names(ec) == set(days[-5:]) | {unmanaged}
    report = boto3.client("s3", region_name=REGION, endpoint_url=ec.meta.endpoint_url).get_object(
        Bucket="triflow-backstop-reports", Key=result["report"].split("/", 3)[3]
    )
    assert b'"action": "delete"' in report["Body"].read()


def test_a_manual_prune_is_a_dry_run_unless_delete_is_typed(ec):
    for d in range(12, 23):
        _past_snapshot(ec, d)
    before = _names(ec)

    dry = _prune(_context(run_id="manual__1", when=DAY_0200_KST + timedelta(minutes=10)))
    assert dry["dry_run"] is True and len(dry["planned_deletions"]) == 6 and dry["deleted"] == []
    assert _names(ec) == before

    real = _prune(
        _context(
            run_id="manual__2",
            when=DAY_0200_KST + timedelta(minutes=10),
            dry_run=False,
            confirm_delete="DELETE",
        )
    )
    assert len(real["deleted"]) == 6


def test_retention_halts_when_the_newest_snapshot_is_stale(ec):
    """Backups failing for a week: the last good snapshots must not age out (interlock 3)."""
    for d in range(5, 13):
        _past_snapshot(ec, d)
    before = _names(ec)

    with pytest.raises(AirflowFailException, match="pruning stopped"):
        _prune(_context(when=DAY_0200_KST + timedelta(minutes=10)))
    assert _names(ec) == before


def test_posture_alerts_when_automatic_snapshots_differ_from_the_policy(ec):
    op = CachePostureOperator(
        task_id="posture",
        sources=[
            {"type": "replication_group", "id": REDIS_GROUP, "retention_days": 5, "window": "17:00-18:00"}
        ],
        region_name=REGION,
    )
    assert op.execute(_context())["problems"] == []

    ec.modify_replication_group(
        ReplicationGroupId=REDIS_GROUP, SnapshotRetentionLimit=1, ApplyImmediately=True
    )
    with pytest.raises(
        AirflowFailException, match="automatic snapshot retention is 1 days, the policy says 5"
    ):
        op.execute(_context())
