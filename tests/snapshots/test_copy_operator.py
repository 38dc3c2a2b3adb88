"""Cross-region copies and the snapshot quota, against the moto server over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from airflow.sdk.exceptions import TaskDeferred

from backstop.airflow.triggers import RdsSnapshotAvailableTrigger
from backstop.naming import from_tag_list
from backstop.snapshots.copy import RdsCrossRegionCopyOperator, RdsPlanCopiesOperator
from backstop.snapshots.create import RdsManagedSnapshotOperator
from backstop.snapshots.guards import QuotaExceededError, SnapshotFailedError, UnmanagedResourceError
from tests.throttling import throttle

PROD = "triflow-ai-production-db"
DR = "ap-northeast-1"
SUNDAY = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
CONTEXT = {"logical_date": SUNDAY, "run_id": "scheduled__2026-11-21T18:00:00+00:00", "dag_run": None}


@pytest.fixture
def dr_rds(local_stack):
    return boto3.client("rds", region_name=DR, endpoint_url=local_stack.aws_endpoint_url)


def _snapshot(db=PROD, db_type="instance", **kwargs) -> dict:
    kwargs.setdefault("policy_name", "triflow-rds-weekly")
    return RdsManagedSnapshotOperator(
        task_id="snapshot",
        db_type=db_type,
        db_identifier=db,
        tier="weekly",
        timezone="Asia/Seoul",
        region_name="ap-northeast-2",
        waiter_delay=0,
        **kwargs,
    ).execute(CONTEXT)


def _copy_op(snapshot: dict, **kwargs) -> RdsCrossRegionCopyOperator:
    kwargs.setdefault("kms_key_id", "alias/backstop-dr")
    return RdsCrossRegionCopyOperator(
        task_id="copy", snapshot=snapshot, destination_region=DR, waiter_delay=0, **kwargs
    )


def test_copy_lands_in_the_dr_region_encrypted_with_the_dr_key(fleet, dr_rds):
    source = _snapshot()
    result = _copy_op(source).execute(CONTEXT)

    assert result["region"] == DR and result["snapshot_id"] == source["snapshot_id"]
    copy = dr_rds.describe_db_snapshots(DBSnapshotIdentifier=source["snapshot_id"])["DBSnapshots"][0]
    tags = from_tag_list(copy["TagList"])
    assert tags["backstop:managed"] == "true"
    assert tags["backstop:source-arn"] == source["arn"]
    assert tags["backstop:source-region"] == "ap-northeast-2"
    assert tags["backstop:policy"] == "triflow-rds-weekly"
    assert copy["Encrypted"] is True
    dr_key = fleet["kms_keys"][DR]
    assert dr_key["key_id"] in copy["KmsKeyId"]


def test_rerun_adopts_the_managed_copy(fleet, dr_rds):
    source = _snapshot()
    _copy_op(source).execute(CONTEXT)
    again = _copy_op(source).execute(CONTEXT)

    assert again["adopted"] is True
    assert len(dr_rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]) == 1


def test_unmanaged_snapshot_of_the_same_name_in_the_dr_region_is_refused(fleet, dr_rds, local_stack):
    source = _snapshot()
    # Someone made a same-named snapshot in Tokyo by hand (a copy without Backstop's tags).
    dr_rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier=source["arn"],
        TargetDBSnapshotIdentifier=source["snapshot_id"],
        SourceRegion="ap-northeast-2",
        KmsKeyId="alias/backstop-dr",
    )
    with pytest.raises(UnmanagedResourceError, match="not a managed copy"):
        _copy_op(source).execute(CONTEXT)
    copy = dr_rds.describe_db_snapshots(DBSnapshotIdentifier=source["snapshot_id"])["DBSnapshots"][0]
    assert "backstop:managed" not in from_tag_list(copy.get("TagList"))


def test_aurora_cluster_snapshot_copy(fleet, local_stack):
    source = _snapshot("triflow-ai-analytics", db_type="cluster")
    result = _copy_op(source).execute(CONTEXT)
    dr = boto3.client("rds", region_name=DR, endpoint_url=local_stack.aws_endpoint_url)
    copy = dr.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=result["snapshot_id"])
    assert from_tag_list(copy["DBClusterSnapshots"][0]["TagList"])["backstop:source-arn"] == source["arn"]


def test_copy_wait_defers_to_a_trigger_in_the_destination_region(fleet):
    source = _snapshot()
    op = _copy_op(source, deferrable=True)
    served = []

    def creating(parsed, **_):
        if parsed.get("DBSnapshots") and not served:
            parsed["DBSnapshots"][0]["Status"] = "copying"
            served.append(1)

    op.hook.conn.meta.events.register("after-call.rds.DescribeDBSnapshots", creating)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(CONTEXT)
    trigger = deferred.value.trigger
    assert isinstance(trigger, RdsSnapshotAvailableTrigger)
    assert trigger.region_name == DR


def test_throttled_copy_is_retried_by_botocore_and_made_once(fleet, dr_rds):
    source = _snapshot()
    op = _copy_op(source)
    calls = throttle(op.hook.conn, "CopyDBSnapshot", times=2)

    op.execute(CONTEXT)

    assert calls == ["Throttling", "Throttling", "sent"]
    assert len(dr_rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]) == 1


def test_plan_copies_picks_the_newest_uncopied_snapshot_per_database(fleet, rds):
    older = rds.create_db_snapshot(
        DBInstanceIdentifier=PROD,
        DBSnapshotIdentifier=f"{PROD}-weekly-20261115",
        Tags=[
            {"Key": "backstop:managed", "Value": "true"},
            {"Key": "backstop:policy", "Value": "triflow-rds-weekly"},
        ],
    )
    assert older
    newest = _snapshot()
    _snapshot("triflow-ai-staging-db")
    rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier="hand-made")  # unmanaged
    plan = RdsPlanCopiesOperator(
        task_id="plan",
        destination_region=DR,
        sources=[
            {"policy": "triflow-rds-weekly", "region": "ap-northeast-2", "kms_key_id": "alias/backstop-dr"}
        ],
    )
    jobs = plan.execute(CONTEXT)
    assert {j["kms_key_id"] for j in jobs} == {"alias/backstop-dr"}
    assert sorted(j["snapshot"]["snapshot_id"] for j in jobs) == sorted(
        [newest["snapshot_id"], "triflow-ai-staging-db-weekly-20261122"]
    )

    for job in jobs:
        _copy_op(job["snapshot"]).execute(CONTEXT)
    assert plan.execute(CONTEXT) == []  # everything copied: nothing left to do


def test_quota_reached_refuses_to_create_and_creates_nothing(fleet, rds):
    rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier="existing-1")
    rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier="existing-2")

    with pytest.raises(QuotaExceededError, match="already holds 2 manual DB snapshots, and the quota is 2"):
        _snapshot(manual_snapshot_quota=2)
    names = {
        s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    }
    assert names == {"existing-1", "existing-2"}
    # Below the quota it proceeds.
    assert _snapshot(manual_snapshot_quota=3)["status"] == "available"


def _other_team_key(local_stack) -> str:
    kms = boto3.client("kms", region_name=DR, endpoint_url=local_stack.aws_endpoint_url)
    key = kms.create_key(Description="another team's DR key")["KeyMetadata"]
    kms.create_alias(AliasName="alias/other-team-dr", TargetKeyId=key["KeyId"])
    return key["Arn"]


def test_each_policy_copies_with_its_own_key_and_alerts_its_own_channel(fleet, rds, local_stack):
    """Issue "Trust" 5: the key used to be taken per region from whichever policy came first."""
    other_arn = _other_team_key(local_stack)
    _snapshot()  # policy triflow-rds-weekly
    _snapshot("triflow-ai-staging-db", policy_name="other-team")
    plan = RdsPlanCopiesOperator(
        task_id="plan",
        destination_region=DR,
        sources=[
            {"policy": "triflow-rds-weekly", "region": "ap-northeast-2", "kms_key_id": "alias/backstop-dr"},
            {
                "policy": "other-team",
                "region": "ap-northeast-2",
                "kms_key_id": "alias/other-team-dr",
                "alert_channel": "#other-team",
            },
        ],
    )
    jobs = {j["snapshot"]["source_id"]: j for j in plan.execute(CONTEXT)}
    assert jobs["triflow-ai-staging-db"]["kms_key_id"] == "alias/other-team-dr"
    assert jobs["triflow-ai-staging-db"]["alert_channel"] == "#other-team"
    assert jobs[PROD]["kms_key_id"] == "alias/backstop-dr"

    job = jobs["triflow-ai-staging-db"]
    result = _copy_op(job["snapshot"], kms_key_id=job["kms_key_id"]).execute(CONTEXT)
    assert result["kms_key_id"].rsplit("/", 1)[-1] == other_arn.rsplit("/", 1)[-1]


def test_a_copy_encrypted_with_another_key_fails_verification(fleet, dr_rds, local_stack):
    """The check used to be only "encrypted"; a managed copy under the wrong team's key is not ours to trust."""
    _other_team_key(local_stack)
    source = _snapshot()
    _copy_op(source, kms_key_id="alias/other-team-dr").execute(CONTEXT)  # made earlier with another key

    with pytest.raises(SnapshotFailedError, match="not with this policy's key alias/backstop-dr"):
        _copy_op(source).execute(CONTEXT)  # adopts it, then verifies the key
    assert dr_rds.describe_db_snapshots(DBSnapshotIdentifier=source["snapshot_id"])[
        "DBSnapshots"
    ]  # left alone
