"""Static validity of include/iam/backstop-policy.json, checked by parliament (duo-labs).

parliament carries the AWS service authorization reference (every service's actions, resource
ARN formats and condition keys) and reports, statement by statement, unknown services and
actions, resources none of a statement's actions can use, condition keys an action does not
support, unknown operators, malformed ARNs, and (community auditors) risky action families.

The gate is "no finding at all" except the few listed in EXPLAINED, each with its reason:
parliament rates an unknown action only LOW, so "nothing above LOW" would let a typo through.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import importlib.util
import json
import sys
import types
from typing import Any

import pytest

from tests.iam.calls import PLACEHOLDERS, policy_text

# (issue, what it names) -> why it stays.
EXPLAINED = {
    (
        "RESOURCE_MISMATCH",
        (
            "rds:CreateDBClusterSnapshot needs arn:*:rds:*:*:cluster-snapshot:*",
            "rds:CreateDBSnapshot needs arn:*:rds:*:*:snapshot:*",
        ),
    ): "SnapshotProtectedDatabases: creating a snapshot is authorized on the source instance or "
    "cluster (any, no tag to check) and on the new snapshot; the snapshot half, which must carry "
    "backstop:managed=true and a Backstop name, is CreateManagedSnapshots.",
    (
        "RESOURCE_MISMATCH",
        (
            "rds:CreateDBClusterSnapshot needs arn:*:rds:*:*:cluster:*",
            "rds:CreateDBSnapshot needs arn:*:rds:*:*:db:*",
        ),
    ): "CreateManagedSnapshots: the other half of the pair above, kept apart so that the tag "
    "condition is required where the new snapshot is authorized, not on the source database.",
    (
        "RESOURCE_STAR",
        ("rds:DescribeDBClusters", "rds:DescribeDBInstances", "rds:DescribeDBSubnetGroups"),
    ): "Backstop lists every instance and cluster to resolve tag selectors and looks up the DR "
    "subnet group by name; read-only, and the resources are not known in advance.",
    ("RESOURCE_STAR", ("kms:CreateGrant", "kms:DescribeKey")): "the source and DR keys of RDS "
    "copies differ per deployment; limited to calls RDS makes (kms:ViaService rds.*). "
    "include/iam/README.md says to narrow Resource to your two key ARNs.",
    ("PERMISSIONS_MANAGEMENT_ACTIONS", ("kms:creategrant",)): "the same kms:CreateGrant: RDS needs "
    "a grant on the destination key to encrypt a cross-region copy; only via RDS (kms:ViaService).",
}


@functools.cache
def parliament() -> types.ModuleType:
    """Import parliament 1.6.4, which still does `import pkg_resources` at import time.

    setuptools 82 removed pkg_resources (duo-labs/parliament#247, open). parliament only calls
    `pkg_resources.resource_filename` to locate its two data files, so for the import, and only
    for it, a stand-in providing that one function (via importlib.resources) is put in
    sys.modules and taken out again, so no other code sees a fake pkg_resources.
    """
    if importlib.util.find_spec("pkg_resources") is not None:
        module = importlib.import_module("parliament")
    else:
        stand_in = types.ModuleType("pkg_resources")
        stand_in.resource_filename = lambda package, name: str(importlib.resources.files(package) / name)
        sys.modules["pkg_resources"] = stand_in
        try:
            module = importlib.import_module("parliament")
        finally:
            del sys.modules["pkg_resources"]
    community = importlib.resources.files("parliament") / "community_auditors" / "config_override.yaml"
    module.override_config(str(community))
    return module


def findings(text: str) -> list[tuple[str, Any, Any]]:
    lint = parliament()
    policy = lint.analyze_policy_string(text, include_community_auditors=True)
    found = []
    for finding in policy.findings:
        lint.enhance_finding(finding)
        found.append((finding.issue, finding.detail, finding.location))
    return found


def _key(issue: str, detail: Any, location: Any) -> tuple[str, tuple[str, ...]]:
    named = detail if isinstance(detail, list) else location.get("actions", [])
    return issue, tuple(
        sorted(n if isinstance(n, str) else f"{n['action']} needs {n['required_format']}" for n in named)
    )


def test_parliament_finds_nothing_unexplained_in_the_deployed_policy():
    found = findings(policy_text(deployed=True))
    unexplained = [f for f in found if _key(*f) not in EXPLAINED]
    assert unexplained == []
    stale = set(EXPLAINED) - {_key(*f) for f in found}
    assert stale == set(), "EXPLAINED lists findings parliament no longer reports: drop them"


def test_the_shipped_file_differs_from_the_deployed_policy_only_by_its_placeholders():
    """The file keeps ACCOUNT_ID and key-id placeholders (README): parliament sees invalid ARNs."""
    deployed = {_key(*f) for f in findings(policy_text(deployed=True))}
    extra = [
        (i, loc) for i, d, loc in findings(policy_text(deployed=False)) if _key(i, d, loc) not in deployed
    ]
    assert extra
    for issue, location in extra:
        assert issue == "INVALID_ARN" and any(p in location["string"] for p in PLACEHOLDERS), location


@pytest.mark.parametrize(
    ("statement", "issue"),
    [
        ({"Action": "rds:AddTagToResource", "Resource": "*"}, "UNKNOWN_ACTION"),
        ({"Action": "rdss:AddTagsToResource", "Resource": "*"}, "UNKNOWN_PREFIX"),
        ({"Action": "rds:DeleteDBSnapshot", "Resource": "arn:aws:rds:*:*:db:*"}, "RESOURCE_MISMATCH"),
        (
            {
                "Action": "rds:AddTagsToResource",
                "Resource": "arn:aws:rds:*:*:snapshot:*",
                "Condition": {"StringEquals": {"rds:CreateAction": "CreateDBSnapshot"}},
            },
            "UNKNOWN_CONDITION_FOR_ACTION",
        ),
        (
            {
                "Action": "rds:DeleteDBSnapshot",
                "Resource": "arn:aws:rds:*:*:snapshot:*",
                "Condition": {"StringEqual": {"aws:ResourceTag/backstop:managed": "true"}},
            },
            "UNKNOWN_OPERATOR",
        ),
    ],
    ids=["unknown-action", "unknown-service", "wrong-resource", "unknown-condition-key", "unknown-operator"],
)
def test_parliament_catches_the_mistakes_this_gate_relies_on(statement, issue):
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}
    assert issue in {i for i, _, _ in findings(json.dumps(policy, indent=2))}


def test_rds_has_no_condition_key_that_tells_tag_on_create_from_tagging_an_existing_resource():
    """Why the policy fences backstop:* tags by resource NAME (include/iam/README.md).

    EC2 has ec2:CreateAction for this; the RDS authorization data has no rds:CreateAction.
    RDS authorizes tag on create as rds:AddTagsToResource with the request's tags, and the
    creating actions accept aws:RequestTag and aws:TagKeys, which the policy uses.
    """
    (rds,) = [service for service in parliament().iam_definition if service["prefix"] == "rds"]
    actions = {p["privilege"]: p for p in rds["privileges"]}

    def request_keys(action: str) -> set[str]:
        return {
            k
            for r in actions[action]["resource_types"]
            if r["resource_type"] == ""
            for k in r["condition_keys"]
        }

    assert "rds:CreateAction" not in {c["condition"] for c in rds["conditions"]}
    assert request_keys("AddTagsToResource") == {
        "aws:RequestTag/${TagKey}",
        "aws:TagKeys",
        "rds:req-tag/${TagKey}",
    }
    assert request_keys("RemoveTagsFromResource") >= {"aws:TagKeys"}
    for creating in (
        "CreateDBSnapshot",
        "CreateDBClusterSnapshot",
        "CopyDBSnapshot",
        "CopyDBClusterSnapshot",
        "RestoreDBInstanceToPointInTime",
        "RestoreDBInstanceFromDBSnapshot",
    ):
        assert {"aws:RequestTag/${TagKey}", "aws:TagKeys"} <= request_keys(creating), creating
        assert "rds:AddTagsToResource" in {
            d for r in actions[creating]["resource_types"] for d in r["dependent_actions"]
        }
