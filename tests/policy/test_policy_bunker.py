"""The `bunker:` policy section: the shipped file, and bad values named by key path."""

from __future__ import annotations

import copy

import pytest
import yaml

from backstop.policy import DEFAULT_POLICY_PATH, PolicyError, parse_policy
from backstop.policy.bunker_views import bunker_copy_settings, bunker_retention_rules

SHIPPED = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def test_the_shipped_bunker_section():
    policy = parse_policy(SHIPPED)
    settings = bunker_copy_settings(policy)
    assert settings["account_id"] == "210987654321" and settings["aws_conn_id"] == "aws_bunker"
    assert settings["regions"] == [{"region": "ap-northeast-2", "kms_key_id": "alias/backstop-bunker"}]
    assert {"policy": "triflow-rds-weekly", "type": None, "id": "triflow-ai-production-db"} in settings[
        "databases"
    ]
    rules = bunker_retention_rules(policy)
    assert sorted(rules) == ["triflow-aurora-weekly", "triflow-rds-weekly"]
    weekly = rules["triflow-rds-weekly"]
    assert weekly["keep"][0] == {"period": "weekly", "count": 5, "max_age": None}
    assert weekly["max_staleness"] == 8 * 86400  # the weekly tier's max_age: the stale halt is never off
    assert policy.bunker.retention_conn_id != policy.bunker.aws_conn_id


def test_a_policy_without_a_bunker_has_no_bunker_dags_inputs():
    data = copy.deepcopy(SHIPPED)
    del data["bunker"]
    policy = parse_policy(data)
    assert bunker_copy_settings(policy) is None and bunker_retention_rules(policy) == {}


def _bad(change, where: str, what: str) -> None:
    data = copy.deepcopy(SHIPPED)
    change(data["bunker"])
    with pytest.raises(PolicyError) as failed:
        parse_policy(data)
    text = str(failed.value)
    assert where in text and what in text, text


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        (lambda b: b.update(account_id=210987654321), "bunker.account_id", "in quotes"),
        (lambda b: b.update(account_id="2109876543"), "bunker.account_id", "12 digits"),
        (lambda b: b.update(acount_id="1"), "bunker.acount_id", "unknown key"),
        (
            lambda b: b.update(role_arn="arn:aws:iam::123456789012:role/backstop-bunker"),
            "bunker",
            "is not in the bunker account 210987654321",
        ),
        (lambda b: b.update(role_arn="backstop-bunker"), "bunker.role_arn", "an IAM role ARN"),
        (lambda b: b.update(regions=[]), "bunker.regions", "at least 1"),
        (
            lambda b: b["regions"].append({"region": "ap-northeast-2", "kms_key_id": "alias/x"}),
            "bunker",
            "regions lists a region twice",
        ),
        (
            lambda b: b["regions"].append({"region": "us-east-1", "kms_key_id": "alias/x"}),
            "bunker.regions[1].region",
            "no database in bunker.databases has managed snapshots in us-east-1",
        ),
        (
            lambda b: b["regions"][0].update(region="ap-northaest-2"),
            "bunker.regions[0].region",
            "not an AWS region",
        ),
        (
            lambda b: b["databases"][0].update(policy="nope"),
            "bunker.databases[0].policy",
            "not an rds_snapshots policy",
        ),
        (
            lambda b: b["databases"][0].update(id="triflow-ai-analytics"),
            "bunker.databases[0].id",
            "is not a resource of policy 'triflow-rds-weekly'",
        ),
        (
            lambda b: b["databases"][1].update(type="rds_instance"),
            "bunker.databases[1].type",
            "protects no rds_instance",
        ),
        (lambda b: b.update(databases=[]), "bunker.databases", "at least 1"),
        (
            lambda b: b.update(retention_schedule="hourly"),
            "bunker.retention_schedule",
            "not defined under 'schedules'",
        ),
        (lambda b: b["retention"].update(keep=[]), "bunker.retention.keep", "at least 1"),
        (
            lambda b: b.update(retention_conn_id="aws_bunker"),
            "bunker",
            "retention_conn_id must differ from aws_conn_id",
        ),
    ],
)
def test_bad_bunker_values_are_named_by_key_path(change, where, what):
    _bad(change, where, what)
