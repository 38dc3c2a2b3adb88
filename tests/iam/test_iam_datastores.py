"""The IAM policy for the ElastiCache and S3 calls, evaluated request by request.

Each Backstop call is allowed with the names and tags the code uses; each escalation is
refused: tagging (or untagging) existing resources with backstop:* keys, deleting an
unmanaged snapshot or a group that is not a drill group, writing outside the protected and
backup buckets.
"""

from __future__ import annotations

from datetime import date

import pytest

from backstop.naming import (
    DRILL_TAG,
    EXPIRES_TAG,
    SOURCE_TAG,
    cache_drill_group_id,
    managed_tags,
    snapshot_name,
)
from tests.iam.calls import ACCOUNT, PRIMARY, load_policy, tags_context
from tests.iam.evaluator import Request, evaluate

POLICY = load_policy()
GROUP = "triflow-ai-redis"
DAY = date(2026, 11, 22)
SNAP = snapshot_name(GROUP, "daily", DAY)
DRILL = cache_drill_group_id(GROUP, DAY)
SNAP_TAGS = managed_tags(
    policy="triflow-redis-daily", tier="daily", run_id="scheduled__x", extra={SOURCE_TAG: GROUP}
)
DRILL_TAGS = managed_tags(
    policy="triflow-redis-daily",
    tier="drill",
    run_id="scheduled__y",
    extra={DRILL_TAG: "true", SOURCE_TAG: GROUP, EXPIRES_TAG: "2026-12-06T21:00:00Z"},
)


def ec(kind: str, name: str) -> str:
    return f"arn:aws:elasticache:{PRIMARY}:{ACCOUNT}:{kind}:{name}"


def s3(path: str) -> str:
    return f"arn:aws:s3:::{path}"


ALLOWED = [
    Request("elasticache:DescribeReplicationGroups", ec("replicationgroup", GROUP), {}),
    Request("elasticache:DescribeSnapshots", ec("snapshot", SNAP), {}),
    Request("elasticache:ListTagsForResource", ec("snapshot", SNAP), {}),
    # CreateSnapshot with tags: the source, the new snapshot, and tag on create
    Request("elasticache:CreateSnapshot", ec("replicationgroup", GROUP), tags_context(request=SNAP_TAGS)),
    Request("elasticache:CreateSnapshot", ec("snapshot", SNAP), tags_context(request=SNAP_TAGS)),
    Request("elasticache:AddTagsToResource", ec("snapshot", SNAP), tags_context(request=SNAP_TAGS)),
    Request("elasticache:DeleteSnapshot", ec("snapshot", SNAP), tags_context(resource=SNAP_TAGS)),
    # the drill: a group from the snapshot, tagged at creation, then deleted
    Request(
        "elasticache:CreateReplicationGroup", ec("replicationgroup", DRILL), tags_context(request=DRILL_TAGS)
    ),
    Request("elasticache:CreateReplicationGroup", ec("snapshot", SNAP), tags_context(request=DRILL_TAGS)),
    Request(
        "elasticache:CreateReplicationGroup",
        ec("parametergroup", "default.redis7"),
        tags_context(request=DRILL_TAGS),
    ),
    Request("elasticache:AddTagsToResource", ec("replicationgroup", DRILL), tags_context(request=DRILL_TAGS)),
    Request(
        "elasticache:DeleteReplicationGroup", ec("replicationgroup", DRILL), tags_context(resource=DRILL_TAGS)
    ),
    # export to S3 and the DR copy
    Request("elasticache:CopySnapshot", ec("snapshot", SNAP), tags_context(resource=SNAP_TAGS)),
    Request("s3:PutObject", s3(f"triflow-ai-redis-exports-dr/{SNAP}-0001.rdb"), {}),
    # S3 posture, restore (CopyObject = read the version + write the key), backup copy
    Request("s3:GetBucketVersioning", s3("triflow-ai-files"), {}),
    Request("s3:GetLifecycleConfiguration", s3("triflow-ai-files"), {}),
    Request("s3:ListBucketVersions", s3("triflow-ai-files"), {}),
    Request("s3:GetObjectVersion", s3("triflow-ai-files/uploads/workflows/wf-001.json"), {}),
    Request("s3:PutObject", s3("triflow-ai-files/uploads/workflows/wf-001.json"), {}),
    Request("s3:PutObject", s3("triflow-ai-files-backup/backups/20261122/uploads/a.json"), {}),
    Request("s3:PutObject", s3("triflow-backstop-reports/reports/restores/s3/20261122/x.json"), {}),
]

DENIED = [
    # tag an existing production group or snapshot as Backstop's (then delete it)
    Request("elasticache:AddTagsToResource", ec("replicationgroup", GROUP), tags_context(request=DRILL_TAGS)),
    Request(
        "elasticache:AddTagsToResource", ec("snapshot", "dba-before-upgrade"), tags_context(request=SNAP_TAGS)
    ),
    Request(
        "elasticache:RemoveTagsFromResource", ec("snapshot", SNAP), {"aws:TagKeys": ["backstop:managed"]}
    ),
    # delete what Backstop did not make
    Request("elasticache:DeleteSnapshot", ec("snapshot", SNAP), {}),
    Request("elasticache:DeleteSnapshot", ec("snapshot", "dba-before-upgrade"), {}),
    Request("elasticache:DeleteReplicationGroup", ec("replicationgroup", GROUP), tags_context(resource={})),
    Request(
        "elasticache:DeleteReplicationGroup", ec("replicationgroup", DRILL), tags_context(resource=SNAP_TAGS)
    ),
    # untagged snapshots or groups
    Request("elasticache:CreateSnapshot", ec("snapshot", SNAP), {}),
    Request(
        "elasticache:CreateReplicationGroup",
        ec("replicationgroup", "triflow-ai-redis-2"),
        tags_context(request=DRILL_TAGS),
    ),
    Request("elasticache:ModifyReplicationGroup", ec("replicationgroup", GROUP), {}),
    Request("elasticache:CopySnapshot", ec("snapshot", "dba-before-upgrade"), {}),
    # S3: delete, or write outside the buckets and prefixes
    Request("s3:DeleteObjectVersion", s3("triflow-ai-files/uploads/workflows/wf-001.json"), {}),
    Request("s3:PutObject", s3("triflow-ai-files-backup/elsewhere/a.json"), {}),
    Request("s3:PutObject", s3("triflow-terraform-state/infrastructure/terraform.tfstate.x"), {}),
    Request("s3:PutBucketVersioning", s3("triflow-ai-files"), {}),
]


@pytest.mark.parametrize("request_", ALLOWED, ids=lambda r: f"{r.action} {r.resource.rsplit(':', 1)[-1]}")
def test_datastore_call_is_allowed(request_):
    assert evaluate(POLICY, request_).allowed


@pytest.mark.parametrize("request_", DENIED, ids=lambda r: f"{r.action} {r.resource.rsplit(':', 1)[-1]}")
def test_datastore_escalation_is_denied(request_):
    assert not evaluate(POLICY, request_).allowed
