"""RdsManagedSnapshotOperator against the moto server over HTTP.

moto makes snapshots `available` at once, so waits and failures are produced with a
botocore `after-call` hook on the operator's own client that rewrites the Status field of
real DescribeDB*Snapshots responses (a fault the emulator cannot produce otherwise).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from airflow.triggers.base import TaskSuccessEvent

from backstop.airflow.triggers import RdsSnapshotAvailableTrigger
from backstop.naming import from_tag_list
from backstop.snapshots.create import RdsManagedSnapshotOperator
from backstop.snapshots.guards import SnapshotFailedError, UnmanagedResourceError
from backstop.snapshots.targets import RdsResolveTargetsOperator

PROD = "triflow-ai-production-db"
SUNDAY_0300_KST = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
EXPECTED_NAME = f"{PROD}-weekly-20261122"


def _context(run_id: str = "scheduled__2026-11-21T18:00:00+00:00") -> dict:
    return {"logical_date": SUNDAY_0300_KST, "run_id": run_id, "dag_run": None}


def _operator(db_identifier: str = PROD, db_type: str = "instance", **kwargs) -> RdsManagedSnapshotOperator:
    return RdsManagedSnapshotOperator(
        task_id="snapshot",
        db_type=db_type,
        db_identifier=db_identifier,
        tier="weekly",
        policy_name="triflow-rds-weekly",
        timezone="Asia/Seoul",
        region_name="ap-northeast-2",
        waiter_delay=0,
        **kwargs,
    )


def _status_sequence(client, operation: str, statuses: list[str]) -> list[str]:
    """Rewrite Status in the next len(statuses) responses of `operation`; returns what was served."""
    served: list[str] = []
    queue = list(statuses)
    list_key = "DBClusterSnapshots" if "Cluster" in operation else "DBSnapshots"

    def rewrite(parsed, **_):
        if queue and parsed.get(list_key):
            parsed[list_key][0]["Status"] = queue.pop(0)
            served.append(parsed[list_key][0]["Status"])

    client.meta.events.register(f"after-call.rds.{operation}", rewrite)
    return served


def test_creates_a_named_tagged_snapshot(fleet, rds):
    result = _operator().execute(_context())

    assert result["snapshot_id"] == EXPECTED_NAME
    assert result["status"] == "available" and result["adopted"] is False
    assert result["encrypted"] is True  # the production DB is KMS-encrypted
    snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=EXPECTED_NAME)["DBSnapshots"][0]
    tags = from_tag_list(snapshot["TagList"])
    assert tags["backstop:managed"] == "true"
    assert tags["backstop:policy"] == "triflow-rds-weekly"
    assert tags["backstop:tier"] == "weekly"
    assert tags["backstop:run-id"] == "scheduled__2026-11-21T18:00:00+00:00"
    assert snapshot["SnapshotType"] == "manual"


def test_rerun_adopts_the_managed_snapshot_instead_of_duplicating(fleet, rds):
    first = _operator().execute(_context())
    second = _operator().execute(_context(run_id="manual__retry"))

    assert second["adopted"] is True and second["snapshot_id"] == first["snapshot_id"]
    mine = rds.describe_db_snapshots(DBInstanceIdentifier=PROD, SnapshotType="manual")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in mine] == [EXPECTED_NAME]


def test_same_named_unmanaged_snapshot_fails_and_is_left_alone(fleet, rds):
    rds.create_db_snapshot(
        DBInstanceIdentifier=PROD, DBSnapshotIdentifier=EXPECTED_NAME, Tags=[{"Key": "owner", "Value": "dba"}]
    )

    with pytest.raises(UnmanagedResourceError, match="not tagged backstop:managed=true"):
        _operator().execute(_context())

    snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=EXPECTED_NAME)["DBSnapshots"][0]
    assert from_tag_list(snapshot["TagList"]) == {"owner": "dba"}  # not tagged, not replaced


def test_managed_snapshot_of_another_database_is_not_adopted(fleet, rds):
    op = _operator(snapshot_identifier="shared-name")
    rds.create_db_snapshot(
        DBInstanceIdentifier="triflow-ai-staging-db",
        DBSnapshotIdentifier="shared-name",
        Tags=[{"Key": "backstop:managed", "Value": "true"}],
    )
    with pytest.raises(UnmanagedResourceError, match="not of 'triflow-ai-production-db'"):
        op.execute(_context())


def test_snapshot_that_ends_failed_fails_the_task_with_the_aws_status(fleet):
    op = _operator(deferrable=False)
    served = _status_sequence(op.hook.conn, "DescribeDBSnapshots", ["creating", "failed"])

    with pytest.raises(SnapshotFailedError, match="AWS status 'failed'"):
        op.execute(_context())
    assert served == ["creating", "failed"]


def test_missing_instance_fails_without_retry(fleet):
    with pytest.raises(AirflowFailException, match="'no-such-db' does not exist in ap-northeast-2"):
        _operator("no-such-db").execute(_context())


def test_aurora_cluster_snapshot(fleet, rds):
    result = _operator("triflow-ai-analytics", db_type="cluster").execute(_context())

    assert result["snapshot_id"] == "triflow-ai-analytics-weekly-20261122"
    snap = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=result["snapshot_id"])
    assert from_tag_list(snap["DBClusterSnapshots"][0]["TagList"])["backstop:managed"] == "true"


def test_synchronous_fallback_polls_until_available(fleet):
    op = _operator(deferrable=False)
    served = _status_sequence(op.hook.conn, "DescribeDBSnapshots", ["creating", "creating", "backing-up"])

    result = op.execute(_context())
    assert result["status"] == "available"
    assert served == ["creating", "creating", "backing-up"]


def _defer(op: RdsManagedSnapshotOperator) -> tuple[TaskDeferred, RdsSnapshotAvailableTrigger]:
    """Run until the task defers; rebuild its trigger from the serialized form, as the triggerer does."""
    _status_sequence(op.hook.conn, "DescribeDBSnapshots", ["creating"])
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(_context())
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "backstop.airflow.triggers.RdsSnapshotAvailableTrigger"
    return deferred.value, RdsSnapshotAvailableTrigger(**kwargs)


def test_trigger_verifies_the_snapshot_and_ends_the_task_itself(fleet):
    deferred, trigger = _defer(_operator(deferrable=True))
    served = _status_sequence(trigger.hook.conn, "DescribeDBSnapshots", ["creating", "creating"])

    event = asyncio.run(_first_event(trigger))

    assert served == ["creating", "creating"]
    assert isinstance(event, TaskSuccessEvent)  # no second run on a worker
    result = event.xcoms["return_value"]
    assert result["snapshot_id"] == EXPECTED_NAME and result["status"] == "available"
    assert result["adopted"] is False and result["encrypted"] is True
    assert result["duration_seconds"] >= 0


def test_trigger_hands_a_snapshot_that_fails_verification_back_to_the_worker(fleet, rds):
    deferred, trigger = _defer(_operator(deferrable=True))
    arn = rds.describe_db_snapshots(DBSnapshotIdentifier=EXPECTED_NAME)["DBSnapshots"][0]["DBSnapshotArn"]
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["backstop:managed"])  # changed out of band

    event = asyncio.run(_first_event(trigger))

    assert not isinstance(event, TaskSuccessEvent) and event.payload["status"] == "success"
    with pytest.raises(SnapshotFailedError, match="backstop:managed tag is missing"):
        _operator().execute_complete(_context(), event.payload, **deferred.kwargs)


def test_a_task_that_must_fail_afterwards_always_resumes_on_the_worker(fleet):
    op = _operator(deferrable=True, conflict="Two policies select this database")
    deferred, trigger = _defer(op)
    assert trigger.finish is None

    event = asyncio.run(_first_event(trigger))

    assert not isinstance(event, TaskSuccessEvent)
    with pytest.raises(AirflowFailException, match="Two policies select this database"):
        op.execute_complete(_context(), event.payload, **deferred.kwargs)


def test_resumed_with_only_the_end_state_as_dags_test_does_it_verifies_here(fleet):
    _defer(_operator(deferrable=True))

    result = _operator().execute_complete(_context(), "success")

    assert result["snapshot_id"] == EXPECTED_NAME and result["status"] == "available"


def test_trigger_reports_a_vanished_snapshot_as_failure_not_success(fleet):
    trigger = RdsSnapshotAvailableTrigger(
        db_type="instance", snapshot_id="never-created", waiter_delay=0, region_name="ap-northeast-2"
    )
    event = asyncio.run(_first_event(trigger))
    assert event.payload["status"] == "not_found"

    with pytest.raises(SnapshotFailedError, match="does not exist"):
        _operator().execute_complete(_context(), event.payload)


def test_trigger_gives_up_after_waiter_max_attempts(fleet, rds):
    rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier="slow-one")
    trigger = RdsSnapshotAvailableTrigger(
        db_type="instance",
        snapshot_id="slow-one",
        waiter_delay=0,
        waiter_max_attempts=3,
        region_name="ap-northeast-2",
    )
    _status_sequence(trigger.hook.conn, "DescribeDBSnapshots", ["creating"] * 5)
    event = asyncio.run(_first_event(trigger))
    assert event.payload["status"] == "timeout" and "after 3 polls" in event.payload["message"]


async def _first_event(trigger):
    async for event in trigger.run():
        return event
    raise AssertionError("trigger ended without an event")


def test_resolve_targets_expands_ids_and_tag_selectors(fleet):
    op = RdsResolveTargetsOperator(
        task_id="resolve",
        region_name="ap-northeast-2",
        targets=[
            {"policy": "p1", "region": "ap-northeast-2", "type": "rds_instance", "id": PROD},
            {
                "policy": "p2",
                "region": "ap-northeast-2",
                "type": "rds_instance",
                "selector": {"tags": {"environment": "staging"}},
                "alert_channel": "#dba",
            },
            {
                "policy": "p3",
                "region": "ap-northeast-2",
                "type": "aurora_cluster",
                "selector": {"tags": {"backstop-tier": "weekly"}},
            },
        ],
    )
    jobs = op.execute(_context())
    assert [(j["db_type"], j["db_identifier"], j["policy_name"]) for j in jobs] == [
        ("instance", PROD, "p1"),
        ("instance", "triflow-ai-staging-db", "p2"),
        ("instance", "triflow-ai-staging-ha-db", "p2"),  # the resilience drills' Multi-AZ staging DB
        ("cluster", "triflow-ai-analytics", "p3"),
    ]
    assert jobs[1]["alert_channel"] == "#dba"


def test_resolve_targets_refuses_an_empty_backup_run(fleet):
    op = RdsResolveTargetsOperator(
        task_id="resolve",
        targets=[
            {
                "policy": "p",
                "region": "ap-northeast-2",
                "type": "rds_instance",
                "selector": {"tags": {"environment": "nowhere"}},
            }
        ],
    )
    with pytest.raises(AirflowFailException, match="selected no resources"):
        op.execute(_context())


def test_a_database_selected_by_two_policies_is_backed_up_once_then_fails_loudly(fleet, rds):
    """Issue "Trust" 4: the second policy used to be dropped with an info log line."""
    jobs = RdsResolveTargetsOperator(
        task_id="resolve",
        region_name="ap-northeast-2",
        targets=[
            {
                "policy": "p1",
                "region": "ap-northeast-2",
                "type": "rds_instance",
                "id": "triflow-ai-staging-db",
            },
            {
                "policy": "p2",
                "region": "ap-northeast-2",
                "type": "rds_instance",
                "selector": {"tags": {"environment": "staging"}},
            },
        ],
    ).execute(_context())
    jobs = [j for j in jobs if j["db_identifier"] == "triflow-ai-staging-db"]  # not staging-ha-db
    assert len(jobs) == 1 and jobs[0]["policy_name"] == "p1"
    assert "'p1'" in jobs[0]["conflict"] and "'p2'" in jobs[0]["conflict"]

    op = _operator(db_identifier="triflow-ai-staging-db", conflict=jobs[0]["conflict"])
    with pytest.raises(AirflowFailException, match="selected by policy 'p1' and by policy 'p2'"):
        op.execute(_context())
    made = rds.describe_db_snapshots(DBSnapshotIdentifier="triflow-ai-staging-db-weekly-20261122")
    assert made["DBSnapshots"][0]["Status"] == "available"  # the backup itself was not withheld


def test_an_error_that_cannot_heal_fails_at_once_and_throttling_stays_retryable(fleet, rds):
    """Issue "Trust": AccessDenied used to be retried for 15 minutes. AWS's answers are injected
    with a before-send hook (moto neither denies nor throttles)."""
    from botocore.exceptions import ClientError

    from tests.throttling import answer_with_error

    denied = _operator()
    answer_with_error(denied.hook.conn, "CreateDBSnapshot", 1, code="AccessDenied", status=403, message="no")
    with pytest.raises(AirflowFailException, match="AccessDenied.*will not heal"):
        denied.execute(_context())

    throttled = _operator()
    answer_with_error(throttled.hook.conn, "CreateDBSnapshot", 100)
    with pytest.raises(ClientError) as caught:
        throttled.execute(_context())
    assert not isinstance(caught.value, AirflowFailException)  # the task's retries still apply
    assert rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []


def test_an_instance_tag_selector_leaves_aurora_cluster_members_out(fleet, rds):
    member = rds.describe_db_clusters(DBClusterIdentifier="triflow-ai-staging-aurora")["DBClusters"][0][
        "DBClusterMembers"
    ][0]["DBInstanceIdentifier"]
    arn = rds.describe_db_instances(DBInstanceIdentifier=member)["DBInstances"][0]["DBInstanceArn"]
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "environment", "Value": "staging"}])

    jobs = RdsResolveTargetsOperator(
        task_id="resolve",
        region_name="ap-northeast-2",
        targets=[
            {
                "policy": "p2",
                "region": "ap-northeast-2",
                "type": "rds_instance",
                "selector": {"tags": {"environment": "staging"}},
            }
        ],
    ).execute(_context())

    # RDS refuses an instance snapshot of a cluster member: the cluster's snapshot is its backup.
    assert member not in [j["db_identifier"] for j in jobs]
    assert "triflow-ai-staging-db" in [j["db_identifier"] for j in jobs]
