"""The request evaluator the IAM tests rely on, checked on small policies with known answers."""

from __future__ import annotations

import pytest

from tests.iam.evaluator import Request, evaluate

SNAPSHOT = "arn:aws:rds:ap-northeast-2:111122223333:snapshot:db-weekly-20261122"
DB = "arn:aws:rds:ap-northeast-2:111122223333:db:db"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**fields):
    return {"Effect": "Allow", "Action": "rds:*", "Resource": "*", **fields}


def decide(statement_or_policy, action="rds:DeleteDBSnapshot", resource=SNAPSHOT, **context):
    doc = statement_or_policy if "Statement" in statement_or_policy else policy(statement_or_policy)
    return evaluate(doc, Request(action, resource, context)).decision


def test_nothing_matches_is_an_implicit_deny_and_an_explicit_deny_wins():
    assert decide(policy()) == "implicit-deny"
    assert decide(allow()) == "allow"
    assert decide(policy(allow(), {"Effect": "Deny", "Action": "rds:Delete*", "Resource": "*"})) == (
        "explicit-deny"
    )


def test_action_wildcards_are_case_insensitive_and_not_action_inverts():
    assert decide(allow(Action="RDS:delete*")) == "allow"
    assert decide(allow(Action="rds:Describe*")) == "implicit-deny"
    assert decide(allow(Action="rds:DeleteDB?napshot")) == "allow"
    del_action = {k: v for k, v in allow().items() if k != "Action"}
    assert decide({**del_action, "NotAction": "rds:Delete*"}) == "implicit-deny"
    assert decide({**del_action, "NotAction": "s3:*"}) == "allow"


def test_resources_match_segment_by_segment_and_not_resource_inverts():
    assert decide(allow(Resource="arn:aws:rds:*:*:snapshot:*")) == "allow"
    assert decide(allow(Resource="arn:aws:rds:*:*:db:*")) == "implicit-deny"
    assert decide(allow(Resource="arn:aws:rds:*:*:snapshot:*-20??????")) == "allow"
    assert decide(allow(Resource="arn:aws:rds:*:*:snapshot:*-20?????")) == "implicit-deny"
    assert decide(allow(Resource="arn:aws:rds:us-east-1:*:snapshot:*")) == "implicit-deny"
    assert decide(allow(Resource="arn:aws:rds:*:*:Snapshot:*")) == "implicit-deny"  # case-sensitive
    not_resource = {k: v for k, v in allow().items() if k != "Resource"}
    assert decide({**not_resource, "NotResource": "arn:aws:rds:*:*:db:*"}) == "allow"
    assert decide({**not_resource, "NotResource": "arn:aws:rds:*:*:snapshot:*"}) == "implicit-deny"


def test_single_valued_operators_need_the_key_and_or_values_and_keys():
    managed = {"Condition": {"StringEquals": {"aws:ResourceTag/backstop:managed": ["true", "yes"]}}}
    assert decide(allow(**managed)) == "implicit-deny"  # key missing: false
    assert decide(allow(**managed), **{"aws:ResourceTag/backstop:managed": "yes"}) == "allow"
    assert decide(allow(**managed), **{"AWS:RESOURCETAG/backstop:managed": "true"}) == "allow"
    assert decide(allow(**managed), **{"aws:ResourceTag/backstop:managed": "True"}) == "implicit-deny"
    both = {"StringEquals": {"aws:ResourceTag/a": "1", "aws:ResourceTag/b": "2"}}
    assert decide(allow(Condition=both), **{"aws:ResourceTag/a": "1"}) == "implicit-deny"
    assert decide(allow(Condition=both), **{"aws:ResourceTag/a": "1", "aws:ResourceTag/b": "2"}) == "allow"
    like = {"StringLike": {"kms:ViaService": "rds.*.amazonaws.com"}}
    assert decide(allow(Condition=like), **{"kms:ViaService": "rds.ap-northeast-1.amazonaws.com"}) == "allow"
    assert decide(allow(Condition=like), **{"kms:ViaService": "s3.ap-northeast-1.amazonaws.com"}) == (
        "implicit-deny"
    )


def test_set_qualifiers_and_the_for_all_values_missing_key_pitfall():
    only_verified = {"ForAllValues:StringEquals": {"aws:TagKeys": ["verified", "verified-at"]}}
    assert decide(allow(Condition=only_verified)) == "allow"  # no keys at all: vacuously true
    assert decide(allow(Condition=only_verified), **{"aws:TagKeys": ["verified"]}) == "allow"
    assert decide(allow(Condition=only_verified), **{"aws:TagKeys": ["verified", "managed"]}) == (
        "implicit-deny"
    )
    any_backstop = {"ForAnyValue:StringLike": {"aws:TagKeys": "backstop:*"}}
    assert decide(allow(Condition=any_backstop)) == "implicit-deny"
    assert decide(allow(Condition=any_backstop), **{"aws:TagKeys": ["Name", "backstop:drill"]}) == "allow"
    with pytest.raises(ValueError, match="multivalued"):
        decide(allow(Condition={"StringLike": {"aws:TagKeys": "*"}}), **{"aws:TagKeys": ["a", "b"]})


def test_null_bool_and_arn_like():
    absent = {"Null": {"aws:ResourceTag/backstop:managed": "true"}}
    assert decide(allow(Condition=absent)) == "allow"
    assert decide(allow(Condition=absent), **{"aws:ResourceTag/backstop:managed": "true"}) == "implicit-deny"
    present = {"Null": {"aws:TagKeys": "false"}}
    assert decide(allow(Condition=present), **{"aws:TagKeys": []}) == "implicit-deny"
    assert decide(allow(Condition=present), **{"aws:TagKeys": ["x"]}) == "allow"
    secure = {"Bool": {"aws:SecureTransport": "true"}}
    assert decide(allow(Condition=secure), **{"aws:SecureTransport": "TRUE"}) == "allow"
    assert decide(allow(Condition=secure)) == "implicit-deny"
    source = {"ArnLike": {"aws:SourceArn": "arn:aws:rds:*:111122223333:db:*"}}
    assert decide(allow(Condition=source), **{"aws:SourceArn": DB}) == "allow"
    assert decide(allow(Condition=source), **{"aws:SourceArn": SNAPSHOT}) == "implicit-deny"


@pytest.mark.parametrize(
    "condition",
    [
        {"StringNotEquals": {"aws:TagKeys": "x"}},
        {"StringEqualsIfExists": {"aws:TagKeys": "x"}},
        {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"StringLike": {"aws:ResourceTag/owner": "${aws:username}"}},
        {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}},
    ],
)
def test_what_is_not_modelled_raises_instead_of_guessing(condition):
    with pytest.raises(NotImplementedError):
        decide(allow(Condition=condition), **{"aws:TagKeys": "x", "aws:ResourceTag/owner": "x"})
