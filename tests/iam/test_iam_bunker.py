"""The backup account's IAM (include/iam/bunker/), evaluated request by request, and linted.

Three principals: the source account's Backstop role (backstop-policy.json plus
source-role-additions.json), the bunker's copy role (the only bunker role the source role may
assume) and the bunker's retention role (assumable only inside the bunker account). RDS has no
resource-based policies, so a principal of the source account acts in the bunker account only
through a bunker role whose trust policy names it: "the source cannot delete in the bunker" is
"every bunker role the source role can assume denies deletes", tested below, and moto proves the
credential separation for real (tests/bunker/test_bunker_copy.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backstop.naming import SOURCE_ACCOUNT_TAG, SOURCE_ARN_TAG, SOURCE_REGION_TAG
from tests.iam.calls import (
    ACCOUNT,
    CLUSTER_SNAPSHOT,
    PRIMARY,
    SNAPSHOT,
    SNAPSHOT_TAGS,
    load_policy,
    tags_context,
)
from tests.iam.evaluator import Request, evaluate
from tests.iam.test_iam_static import findings

DOCS = Path(__file__).resolve().parents[2] / "include" / "iam" / "bunker"
BUNKER = "444455556666"
SOURCE_ROLE = "backstop-workers"
VALUES = {
    "SOURCE_ACCOUNT_ID": ACCOUNT,
    "BUNKER_ACCOUNT_ID": BUNKER,
    "SOURCE_ROLE_NAME": SOURCE_ROLE,
    "BUNKER_EXTERNAL_ID": "backstop-bunker-5f1c",
    "BUNKER_WORKER_ROLE_NAME": "backstop-bunker-worker",
    "BUNKER_BREAK_GLASS_ROLE": "bunker-break-glass",
    "BUNKER_REPORT_BUCKET": "triflow-backstop-bunker-reports",
}
COPY_ROLE = f"arn:aws:iam::{BUNKER}:role/backstop-bunker"
RETENTION_ROLE = f"arn:aws:iam::{BUNKER}:role/backstop-bunker-retention"


def doc(name: str) -> dict[str, Any]:
    text = (DOCS / name).read_text()
    for key, value in VALUES.items():
        text = text.replace(key, value)
    return json.loads(text)


SOURCE = {
    "Version": "2012-10-17",
    "Statement": load_policy()["Statement"] + doc("source-role-additions.json")["Statement"],
}
COPY = doc("bunker-copy-role-policy.json")
RETENTION = doc("bunker-retention-role-policy.json")


def source_arn(kind: str, name: str) -> str:
    return f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:{kind}:{name}"


def bunker_arn(kind: str, name: str) -> str:
    return f"arn:aws:rds:{PRIMARY}:{BUNKER}:{kind}:{name}"


COPY_TAGS = {
    **SNAPSHOT_TAGS,
    SOURCE_ARN_TAG: source_arn("snapshot", SNAPSHOT),
    SOURCE_REGION_TAG: PRIMARY,
    SOURCE_ACCOUNT_TAG: ACCOUNT,
}
BUNKER_KEY = f"arn:aws:kms:{PRIMARY}:{BUNKER}:key/0000aaaa-1111-2222-3333-444455556666"
SOURCE_KEY = f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VIA_RDS = {"kms:ViaService": f"rds.{PRIMARY}.amazonaws.com"}
MANAGED = tags_context(resource=SNAPSHOT_TAGS)

# (principal, policy, request) for every call the bunker slice makes.
LEGITIMATE = [
    ("source", SOURCE, Request("rds:ModifyDBSnapshotAttribute", source_arn("snapshot", SNAPSHOT), MANAGED)),
    (
        "source",
        SOURCE,
        Request(
            "rds:ModifyDBClusterSnapshotAttribute", source_arn("cluster-snapshot", CLUSTER_SNAPSHOT), MANAGED
        ),
    ),
    ("source", SOURCE, Request("rds:DescribeDBSnapshotAttributes", source_arn("snapshot", SNAPSHOT))),
    (
        "source",
        SOURCE,
        Request("rds:DescribeDBClusterSnapshotAttributes", source_arn("cluster-snapshot", CLUSTER_SNAPSHOT)),
    ),
    ("source", SOURCE, Request("rds:DescribeDBSnapshots", source_arn("snapshot", SNAPSHOT))),
    ("source", SOURCE, Request("sts:AssumeRole", COPY_ROLE)),
    ("copy", COPY, Request("rds:DescribeDBSnapshots", bunker_arn("snapshot", SNAPSHOT))),
    (
        "copy",
        COPY,
        Request("rds:CopyDBSnapshot", source_arn("snapshot", SNAPSHOT), tags_context(request=COPY_TAGS)),
    ),
    (
        "copy",
        COPY,
        Request("rds:CopyDBSnapshot", bunker_arn("snapshot", SNAPSHOT), tags_context(request=COPY_TAGS)),
    ),
    (
        "copy",
        COPY,
        Request("rds:AddTagsToResource", bunker_arn("snapshot", SNAPSHOT), tags_context(request=COPY_TAGS)),
    ),
    (
        "copy",
        COPY,
        Request(
            "rds:CopyDBClusterSnapshot",
            bunker_arn("cluster-snapshot", CLUSTER_SNAPSHOT),
            tags_context(request=COPY_TAGS),
        ),
    ),
    ("copy", COPY, Request("kms:CreateGrant", BUNKER_KEY, VIA_RDS)),
    ("copy", COPY, Request("kms:CreateGrant", SOURCE_KEY, VIA_RDS)),
    ("copy", COPY, Request("kms:Decrypt", SOURCE_KEY, VIA_RDS)),
    ("copy", COPY, Request("kms:DescribeKey", BUNKER_KEY)),
    ("retention", RETENTION, Request("rds:DescribeDBSnapshots", bunker_arn("snapshot", SNAPSHOT))),
    (
        "retention",
        RETENTION,
        Request("rds:DeleteDBSnapshot", bunker_arn("snapshot", SNAPSHOT), tags_context(resource=COPY_TAGS)),
    ),
    (
        "retention",
        RETENTION,
        Request(
            "rds:DeleteDBClusterSnapshot",
            bunker_arn("cluster-snapshot", CLUSTER_SNAPSHOT),
            tags_context(resource=COPY_TAGS),
        ),
    ),
    (
        "retention",
        RETENTION,
        Request(
            "s3:PutObject", "arn:aws:s3:::triflow-backstop-bunker-reports/reports/retention/20261122/r.json"
        ),
    ),
    (
        "retention",
        RETENTION,
        Request(
            "s3:GetObjectVersion",
            "arn:aws:s3:::triflow-backstop-bunker-reports/reports/retention/20261122/r.json",
        ),
    ),
]


@pytest.mark.parametrize(
    ("who", "policy", "request_"), LEGITIMATE, ids=lambda v: v if isinstance(v, str) else None
)
def test_every_call_of_the_bunker_slice_is_allowed(who, policy, request_):
    assert evaluate(policy, request_).allowed, (who, request_)


DELETES = [
    Request("rds:DeleteDBSnapshot", bunker_arn("snapshot", SNAPSHOT), tags_context(resource=COPY_TAGS)),
    Request(
        "rds:DeleteDBClusterSnapshot",
        bunker_arn("cluster-snapshot", CLUSTER_SNAPSHOT),
        tags_context(resource=COPY_TAGS),
    ),
]


def _trusted_principals(name: str) -> list[str]:
    principals = []
    for statement in doc(name)["Statement"]:
        aws = statement["Principal"]["AWS"]
        principals += [aws] if isinstance(aws, str) else aws
    return principals


def test_the_source_role_cannot_delete_in_the_bunker():
    """Through every bunker role it can assume (only the copy role), deletes are explicitly denied."""
    source_role = f"arn:aws:iam::{ACCOUNT}:role/{SOURCE_ROLE}"
    roles = {
        COPY_ROLE: ("bunker-copy-role-trust.json", COPY),
        RETENTION_ROLE: ("bunker-retention-role-trust.json", RETENTION),
    }
    reachable = [
        policy
        for role, (trust, policy) in roles.items()
        if evaluate(SOURCE, Request("sts:AssumeRole", role)).allowed
        and source_role in _trusted_principals(trust)
    ]
    assert reachable == [COPY]
    for request in DELETES:
        assert evaluate(COPY, request).decision == "explicit-deny"
    # The copy role cannot chain into the retention role either.
    assert evaluate(COPY, Request("sts:AssumeRole", RETENTION_ROLE)).decision == "explicit-deny"


def test_the_retention_role_trusts_only_a_principal_inside_the_bunker():
    assert all(f"::{BUNKER}:" in p for p in _trusted_principals("bunker-retention-role-trust.json"))
    copy_trust = doc("bunker-copy-role-trust.json")["Statement"]
    assert [s["Principal"]["AWS"] for s in copy_trust] == [f"arn:aws:iam::{ACCOUNT}:role/{SOURCE_ROLE}"]
    assert all(s["Condition"]["StringEquals"]["sts:ExternalId"] for s in copy_trust)
    assert not evaluate(SOURCE, Request("sts:AssumeRole", RETENTION_ROLE)).allowed
    assert not evaluate(
        SOURCE, Request("sts:AssumeRole", f"arn:aws:iam::{BUNKER}:role/OrganizationAccountAccessRole")
    ).allowed


@pytest.mark.parametrize(
    ("policy", "request_", "why"),
    [
        (
            COPY,
            Request(
                "rds:ModifyDBSnapshotAttribute",
                bunker_arn("snapshot", SNAPSHOT),
                tags_context(resource=COPY_TAGS),
            ),
            "the copy role shares a bunker copy out",
        ),
        (
            COPY,
            Request(
                "rds:RemoveTagsFromResource",
                bunker_arn("snapshot", SNAPSHOT),
                {"aws:TagKeys": ["backstop:managed"]},
            ),
            "the copy role strips the managed tag",
        ),
        (COPY, Request("kms:ScheduleKeyDeletion", BUNKER_KEY), "the copy role deletes the bunker key"),
        (
            COPY,
            Request(
                "rds:AddTagsToResource",
                bunker_arn("snapshot", "dba-kept-by-hand"),
                tags_context(request={"backstop:managed": "true"}),
            ),
            "the copy role claims a snapshot without a Backstop name",
        ),
        (
            RETENTION,
            Request(
                "rds:AddTagsToResource",
                bunker_arn("snapshot", SNAPSHOT),
                tags_context(request={"backstop:managed": "true"}),
            ),
            "the retention role gives itself backstop:managed on an existing snapshot",
        ),
        (
            RETENTION,
            Request(
                "rds:DeleteDBSnapshot",
                bunker_arn("snapshot", SNAPSHOT),
                tags_context(resource={"owner": "dba"}),
            ),
            "the retention role deletes an unmanaged snapshot",
        ),
        (
            RETENTION,
            Request(
                "rds:DeleteDBSnapshot",
                bunker_arn("snapshot", "dba-kept-by-hand"),
                tags_context(resource=COPY_TAGS),
            ),
            "the retention role deletes outside Backstop's names",
        ),
        (
            RETENTION,
            Request("rds:CopyDBSnapshot", bunker_arn("snapshot", SNAPSHOT), tags_context(request=COPY_TAGS)),
            "the retention role makes copies",
        ),
        (
            SOURCE,
            Request("rds:ModifyDBSnapshotAttribute", source_arn("snapshot", "dba-before-upgrade"), {}),
            "the source role shares an unmanaged snapshot",
        ),
        (
            SOURCE,
            Request(
                "rds:ModifyDBSnapshotAttribute",
                source_arn("snapshot", SNAPSHOT),
                tags_context(resource={"owner": "dba"}),
            ),
            "the source role shares a Backstop-named snapshot that is not managed",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_escalations_are_refused(policy, request_, why):
    assert not evaluate(policy, request_).allowed, why


def test_the_bunker_key_is_the_bunkers_alone_and_cannot_be_deleted_by_a_role():
    key_policy = doc("bunker-kms-key-policy.json")
    for statement in key_policy["Statement"]:
        principal = statement["Principal"]
        names = [principal] if isinstance(principal, str) else principal["AWS"]
        names = [names] if isinstance(names, str) else names
        assert all(n == "*" or f"::{BUNKER}:" in n for n in names), statement[
            "Sid"
        ]  # never the source account
    (deny,) = [s for s in key_policy["Statement"] if s["Effect"] == "Deny"]
    assert {"kms:ScheduleKeyDeletion", "kms:DisableKey"} <= set(deny["Action"]) and deny["Principal"] == "*"
    assert "bunker-break-glass" in deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    statement = doc("source-kms-key-statement.json")
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{BUNKER}:root"}
    assert statement["Condition"] == {"StringLike": {"kms:ViaService": "rds.*.amazonaws.com"}}
    assert not {"kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:*"} & set(statement["Action"])


# parliament findings in the bunker documents that stay, each with its reason
EXPLAINED = {
    (
        "RESOURCE_STAR",
        ("rds:DescribeDBClusterSnapshots", "rds:DescribeDBSnapshots", "rds:ListTagsForResource"),
    ): "listing the bunker's snapshots: read-only; the names are not known in advance",
    (
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        ("kms:creategrant",),
    ): "RDS needs a grant on the bunker key and on the "
    "shared source key to copy an encrypted snapshot; only via RDS (kms:ViaService)",
    ("CREDENTIALS_EXPOSURE", ("sts:assumerole",)): "the source role assumes the bunker's copy role (one "
    "role ARN, ExternalId in its trust policy): that is how copies get into the bunker",
}


@pytest.mark.parametrize(
    "name",
    [
        "source-role-additions.json",
        "bunker-copy-role-policy.json",
        "bunker-retention-role-policy.json",
        "bunker-scp.json",
    ],
)
def test_parliament_finds_nothing_unexplained(name):
    from tests.iam.test_iam_static import _key

    text = json.dumps(doc(name))
    unexplained = [f for f in findings(text) if _key(*f) not in EXPLAINED]
    assert unexplained == [], name
