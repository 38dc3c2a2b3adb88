"""The ElastiCache drill's `from_dr_export`: valid only where the policy copies exports to a DR bucket."""

from __future__ import annotations

import copy

import pytest
import yaml

from backstop.policy import DEFAULT_POLICY_PATH, PolicyError, parse_policy
from backstop.policy.datastore_views import elasticache_drills
from backstop.policy.drill_views import sweeper_stores

SHIPPED = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def test_the_shipped_drill_also_restores_the_dr_export_and_the_sweeper_looks_there():
    policy = parse_policy(SHIPPED)
    (drill,) = elasticache_drills(policy)
    assert drill["dr_export"] == {"bucket": "triflow-ai-redis-exports-dr", "region": "ap-northeast-1"}
    assert sweeper_stores(policy)["elasticache"] == ["ap-northeast-1", "ap-northeast-2"]


def test_a_dr_export_drill_without_a_dr_bucket_is_refused_naming_the_key():
    data = copy.deepcopy(SHIPPED)
    data["elasticache"][0]["export"] = {"bucket": "triflow-ai-redis-exports"}
    data["elasticache"][0]["drill"]["from_dr_export"] = True

    with pytest.raises(PolicyError) as failed:
        parse_policy(data)

    text = str(failed.value)
    assert "elasticache[0]" in text and "drill.from_dr_export" in text and "dr_bucket" in text, text
