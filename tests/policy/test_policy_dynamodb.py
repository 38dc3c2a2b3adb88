"""The `dynamodb:` policy section: the shipped entry validates; mistakes fail naming the key path."""

from __future__ import annotations

import copy

import pytest
import yaml

from backstop.policy import DEFAULT_POLICY_PATH, PolicyError, parse_policy
from backstop.policy.dynamodb_views import dynamodb_drills, dynamodb_jobs, dynamodb_retention

SHIPPED = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def _with(change):
    data = copy.deepcopy(SHIPPED)
    change(data["dynamodb"][0])
    return data


def test_the_shipped_dynamodb_section_follows_the_seed():
    policy = parse_policy(SHIPPED)
    [item] = policy.dynamodb
    assert item.tables == ["triflow-workflow-state"] and item.pitr == "enable"
    assert [(r.period, r.max_age.days) for r in item.retention.keep] == [
        ("daily", 7),
        ("weekly", 30),
        ("monthly", 365),
    ]
    assert (item.objectives.rpo.total_seconds(), item.objectives.rto.total_seconds()) == (300, 1800)
    assert dynamodb_jobs(policy, "daily")[0]["dr_regions"][0]["region"] == "ap-northeast-1"
    assert dynamodb_retention(policy, "daily")["triflow-dynamodb"]["max_staleness"] == 2 * 86400
    assert sorted(d["kind"] for d in dynamodb_drills(policy)) == ["backup", "dr_export", "pitr"]


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        (lambda p: p.update(tier="hourly"), "dynamodb[0].tier", "not defined under 'schedules'"),
        (lambda p: p.update(region="ap-northaest-2"), "dynamodb[0].region", "did you mean 'ap-northeast-2'"),
        (
            lambda p: p["dr_regions"][0].update(region="ap-northeast-2"),
            "dynamodb[0].dr_regions[0].region",
            "source region",
        ),
        (
            lambda p: p["dr_regions"][0].update(region="xx-fake-9"),
            "dynamodb[0].dr_regions[0].region",
            "not an AWS region",
        ),
        (lambda p: p.update(tables=["ab"]), "dynamodb[0].tables[0]", "not a valid DynamoDB table name"),
        (lambda p: p.update(pitr="maybe"), "dynamodb[0].pitr", "maybe"),
        (lambda p: p.update(tabels=["x-table"]), "dynamodb[0].tabels", "unknown key"),
        (
            lambda p: p["drill"].update(dr_region="eu-west-1"),
            "dynamodb[0].drill.dr_region",
            "not one of this policy's dr_regions",
        ),
        (lambda p: p["drill"]["probes"][0].pop("key"), "dynamodb[0].drill.probes[0]", "needs 'key'"),
        (
            lambda p: p["drill"]["probes"][1].pop("min_count"),
            "dynamodb[0].drill.probes[1]",
            "needs 'min_count'",
        ),
        (
            lambda p: p["drill"]["probes"][2].pop("max_age"),
            "dynamodb[0].drill.probes[2]",
            "both 'attribute' and 'max_age'",
        ),
        (
            lambda p: p["retention"]["keep"][0].update(period="hourly"),
            "dynamodb[0].retention.keep[0].period",
            "hourly",
        ),
        (lambda p: p.pop("objectives"), "dynamodb[0]", "a drill needs objectives"),
    ],
)
def test_a_mistake_fails_naming_its_key_path(change, where, what):
    with pytest.raises(PolicyError) as caught:
        parse_policy(_with(change))
    problems = caught.value.problems
    assert any(w == where and what in message for w, message in problems), problems


def test_a_table_in_two_dynamodb_policies_is_refused():
    data = copy.deepcopy(SHIPPED)
    twin = copy.deepcopy(data["dynamodb"][0])
    twin["name"] = "triflow-dynamodb-twin"
    data["dynamodb"].append(twin)
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert any(w == "dynamodb[1].tables[0]" and "already protected" in m for w, m in caught.value.problems)
