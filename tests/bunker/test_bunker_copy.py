"""Bunker copies against the moto server over HTTP, with two accounts for real.

The bunker operators reach the second account through the Airflow connection `aws_bunker`
(airflow_settings.yaml): the provider's AwsBaseHook assumes the bunker's copy role with the
role_arn in the connection's extra, and moto answers with credentials of account 210987654321.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from backstop.bunker.copy import BunkerCopyOperator, BunkerPlanCopiesOperator, WrongAccountError
from backstop.naming import from_tag_list
from backstop.snapshots.guards import UnmanagedResourceError
from include.local.bunker_fleet import BUNKER_ACCOUNT
from tests.bunker.bunker_world import (
    AURORA,
    CONTEXT,
    DATABASES,
    PROD,
    REGION,
    STAGING,
    bunker,
    managed_snapshot,
    source,
)

REGIONS = [{"region": REGION, "kms_key_id": "alias/backstop-bunker"}]


def _plan(**kwargs) -> list[dict]:
    kwargs.setdefault("aws_conn_id", "aws_bunker")
    return BunkerPlanCopiesOperator(
        task_id="plan",
        source_conn_id="aws_default",
        bunker_account=BUNKER_ACCOUNT,
        regions=REGIONS,
        databases=DATABASES,
        **kwargs,
    ).execute(CONTEXT)


def _copy(job: dict, **kwargs) -> dict:
    kwargs.setdefault("aws_conn_id", "aws_bunker")
    return BunkerCopyOperator(
        task_id="copy",
        source_conn_id="aws_default",
        bunker_account=BUNKER_ACCOUNT,
        timezone="Asia/Seoul",
        waiter_delay=0,
        **job,
        **kwargs,
    ).execute(CONTEXT)


def _shares(endpoint: str, snapshot_id: str) -> list[str]:
    result = source("rds", endpoint).describe_db_snapshot_attributes(DBSnapshotIdentifier=snapshot_id)
    attributes = result["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
    return [v for a in attributes if a["AttributeName"] == "restore" for v in a.get("AttributeValues", [])]


def test_the_copy_is_made_in_the_bunker_account_with_its_key_and_managed_tags(fleet, local_stack):
    endpoint = local_stack.aws_endpoint_url
    made = managed_snapshot()
    managed_snapshot(STAGING)  # staging did not ask for bunker copies
    jobs = _plan()
    assert [j["snapshot"]["snapshot_id"] for j in jobs] == [made["snapshot_id"]]

    result = _copy(jobs[0])

    copies = bunker("rds", endpoint).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert [c["DBSnapshotIdentifier"] for c in copies] == [made["snapshot_id"]]
    copy = copies[0]
    assert f":{BUNKER_ACCOUNT}:" in copy["DBSnapshotArn"] and result["arn"] == copy["DBSnapshotArn"]
    assert copy["Encrypted"] is True
    bunker_key = fleet["bunker"]["kms_keys"][REGION]["key_id"]
    assert bunker_key in copy["KmsKeyId"]  # the bunker's key, not the source's
    tags = from_tag_list(copy["TagList"])
    assert tags["backstop:managed"] == "true"
    assert tags["backstop:policy"] == "triflow-rds-weekly" and tags["backstop:tier"] == "weekly"
    assert tags["backstop:source-arn"] == made["arn"]
    assert tags["backstop:source-account"] == fleet["bunker"]["source_account"]
    assert _shares(endpoint, made["snapshot_id"]) == []  # the share is gone once the copy is verified
    # The source account still has its own snapshot, and no copy of the bunker's.
    mine = source("rds", endpoint).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert all(f":{BUNKER_ACCOUNT}:" not in s["DBSnapshotArn"] for s in mine)


def test_an_aurora_cluster_snapshot_is_copied_too(fleet, local_stack):
    made = managed_snapshot(AURORA, "cluster", policy="triflow-aurora-weekly")
    (job,) = _plan()
    assert job["snapshot"]["db_type"] == "cluster"

    _copy(job)

    (copy,) = bunker("rds", local_stack.aws_endpoint_url).describe_db_cluster_snapshots(
        SnapshotType="manual"
    )["DBClusterSnapshots"]
    assert copy["DBClusterSnapshotIdentifier"] == made["snapshot_id"]
    assert copy["StorageEncrypted"] is True
    assert fleet["bunker"]["kms_keys"][REGION]["key_id"] in copy["KmsKeyId"]
    assert from_tag_list(copy["TagList"])["backstop:source-arn"] == made["arn"]


def test_a_rerun_adopts_the_copy_and_makes_nothing_new(fleet, local_stack):
    managed_snapshot()
    (job,) = _plan()
    _copy(job)

    assert _plan() == []  # planned again: nothing left to copy
    again = _copy(job)  # a retry of the same task: adopted
    assert again["adopted"] is True
    rds = bunker("rds", local_stack.aws_endpoint_url)
    assert len(rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]) == 1


def test_an_unmanaged_snapshot_is_never_shared_or_copied(fleet, local_stack):
    endpoint = local_stack.aws_endpoint_url
    rds = source("rds", endpoint)
    name = f"{PROD}-weekly-20261122"
    rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier=name)  # by hand, no managed tag
    assert _plan() == []  # never a candidate

    info = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
    forged = {
        "snapshot": {
            "db_type": "instance",
            "snapshot_id": name,
            "source_id": PROD,
            "arn": info["DBSnapshotArn"],
            "region": REGION,
            "tags": {"backstop:managed": "true", "backstop:policy": "triflow-rds-weekly"},
        },
        "kms_key_id": "alias/backstop-bunker",
    }
    with pytest.raises(UnmanagedResourceError, match="not tagged backstop:managed=true"):
        _copy(forged)  # a job that claims it is managed: the operator looks again and refuses

    assert _shares(endpoint, name) == []
    assert bunker("rds", endpoint).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []


def test_a_database_that_did_not_ask_is_skipped(fleet, local_stack):
    managed_snapshot(STAGING)
    managed_snapshot(PROD, policy="another-policy")  # the right database under a policy that did not ask

    assert _plan() == []


def test_a_same_named_snapshot_in_the_bunker_that_is_not_our_copy_is_refused(fleet, local_stack):
    endpoint = local_stack.aws_endpoint_url
    made = managed_snapshot()
    (job,) = _plan()
    other = managed_snapshot(STAGING)
    # Someone in the bunker copied something else under the production snapshot's name.
    source("rds", endpoint).modify_db_snapshot_attribute(
        DBSnapshotIdentifier=other["snapshot_id"], AttributeName="restore", ValuesToAdd=[BUNKER_ACCOUNT]
    )
    bunker("rds", endpoint).copy_db_snapshot(
        SourceDBSnapshotIdentifier=other["arn"],
        TargetDBSnapshotIdentifier=made["snapshot_id"],
        KmsKeyId="alias/backstop-bunker",
        Tags=[{"Key": "backstop:managed", "Value": "true"}],
    )

    with pytest.raises(UnmanagedResourceError, match="not a managed copy of"):
        _copy(job)
    assert _shares(endpoint, made["snapshot_id"]) == []  # never shared


def test_a_bunker_connection_that_reaches_the_source_account_is_refused(fleet, local_stack):
    managed_snapshot()

    with pytest.raises(WrongAccountError, match="not the bunker account"):
        _plan(aws_conn_id="aws_default")  # no role_arn: the "bunker" would be the source account


def test_without_the_source_key_shared_the_copy_fails_and_the_share_is_removed(fleet, local_stack):
    """The source key's policy loses the bunker's statement (emulated by the local stack like AWS)."""
    import json

    endpoint = local_stack.aws_endpoint_url
    kms = source("kms", endpoint)
    key_id = fleet["kms_keys"][REGION]["key_id"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    policy["Statement"] = [
        s for s in policy["Statement"] if s.get("Sid") != "BackstopBunkerCopiesSharedSnapshots"
    ]
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
    made = managed_snapshot()
    (job,) = _plan()

    with pytest.raises(Exception, match="KMSKeyNotAccessible") as failed:
        _copy(job)

    assert "KMSKeyNotAccessible" in str(failed.value)
    assert _shares(endpoint, made["snapshot_id"]) == []
    assert bunker("rds", endpoint).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []


def test_the_source_account_cannot_delete_the_bunker_copy(fleet, local_stack):
    """Two accounts for real: the source account's credentials do not reach the bunker's snapshot."""
    endpoint = local_stack.aws_endpoint_url
    managed_snapshot()
    (job,) = _plan()
    copy = _copy(job)
    rds = source("rds", endpoint)
    assert source("sts", endpoint).get_caller_identity()["Account"] != BUNKER_ACCOUNT

    with pytest.raises(ClientError) as by_arn:
        rds.delete_db_snapshot(DBSnapshotIdentifier=copy["arn"])
    assert by_arn.value.response["Error"]["Code"] in (
        "DBSnapshotNotFound",
        "DBSnapshotNotFoundFault",
        "AccessDenied",
    )

    # By name, the source account can only delete its OWN snapshot of that name.
    rds.delete_db_snapshot(DBSnapshotIdentifier=copy["snapshot_id"])
    still = bunker("rds", endpoint).describe_db_snapshots(DBSnapshotIdentifier=copy["snapshot_id"])[
        "DBSnapshots"
    ]
    assert [s["DBSnapshotArn"] for s in still] == [copy["arn"]]
    assert still[0]["Status"] == "available"


def test_a_copy_in_flight_defers_in_the_bunker_and_unshares_after_it_is_verified(fleet, local_stack):
    """moto makes copies available at once: an after-call hook on the operator's own (bunker) client
    reports the new copy as `copying` once, so the task defers like it does on AWS."""
    from airflow.sdk.exceptions import TaskDeferred

    from backstop.airflow.triggers import RdsSnapshotAvailableTrigger

    endpoint = local_stack.aws_endpoint_url
    made = managed_snapshot()
    (job,) = _plan()
    op = BunkerCopyOperator(
        task_id="copy",
        aws_conn_id="aws_bunker",
        source_conn_id="aws_default",
        bunker_account=BUNKER_ACCOUNT,
        deferrable=True,
        **job,
    )
    served = []

    def copying(parsed, **_):
        if parsed.get("DBSnapshots") and not served:
            parsed["DBSnapshots"][0]["Status"] = "copying"
            served.append(1)

    op.hook.conn.meta.events.register("after-call.rds.DescribeDBSnapshots", copying)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(CONTEXT)
    trigger = deferred.value.trigger
    assert isinstance(trigger, RdsSnapshotAvailableTrigger)
    assert trigger.aws_conn_id == "aws_bunker" and trigger.snapshot_id == made["snapshot_id"]
    assert _shares(endpoint, made["snapshot_id"]) == [BUNKER_ACCOUNT]  # shared while the copy is made

    # The triggerer's own look, then the task resumes in a fresh operator as Airflow does.
    status, _ = trigger.poll(trigger.hook.conn)
    assert status == "success"
    resumed = BunkerCopyOperator(
        task_id="copy",
        aws_conn_id="aws_bunker",
        source_conn_id="aws_default",
        bunker_account=BUNKER_ACCOUNT,
        **job,
    )
    result = resumed.execute_complete(
        CONTEXT, {"status": "success", "snapshot_id": made["snapshot_id"], "message": "available"}
    )

    assert f":{BUNKER_ACCOUNT}:" in result["arn"] and result["adopted"] is False
    assert _shares(endpoint, made["snapshot_id"]) == []


def test_the_plan_removes_a_share_left_behind(fleet, local_stack):
    """A copy task killed after sharing (a share with no task any more): the next plan removes it."""
    endpoint = local_stack.aws_endpoint_url
    made = managed_snapshot()
    (job,) = _plan()
    _copy(job)
    source("rds", endpoint).modify_db_snapshot_attribute(
        DBSnapshotIdentifier=made["snapshot_id"], AttributeName="restore", ValuesToAdd=[BUNKER_ACCOUNT]
    )

    assert _plan() == []

    assert _shares(endpoint, made["snapshot_id"]) == []


def test_the_emulator_like_rds_refuses_to_copy_another_accounts_snapshot_that_is_not_shared(
    fleet, local_stack
):
    """The local stack's cross-account copy (include/local/moto_bunker.py) needs the share, as RDS does."""
    made = managed_snapshot()
    rds = bunker("rds", local_stack.aws_endpoint_url)

    with pytest.raises(ClientError) as refused:
        rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=made["arn"],
            TargetDBSnapshotIdentifier=made["snapshot_id"],
            KmsKeyId="alias/backstop-bunker",
        )

    assert refused.value.response["Error"]["Code"] in ("DBSnapshotNotFound", "DBSnapshotNotFoundFault")
    assert rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
