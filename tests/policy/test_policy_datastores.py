"""The `elasticache:` and `s3:` policy sections: the shipped file, and bad values named by key path."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
import yaml

from backstop.policy import DEFAULT_POLICY_PATH, PolicyError, parse_policy
from backstop.policy.datastore_views import elasticache_drills, elasticache_jobs, s3_buckets

SHIPPED = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def test_the_shipped_sections_follow_the_seed():
    policy = parse_policy(SHIPPED)
    redis = policy.elasticache[0]
    assert redis.resources[0].id == "triflow-ai-redis" and redis.tier == "daily"
    assert redis.retention.max_age == timedelta(days=5)  # dr-plan-triflow.md: kept 5 days
    assert redis.automatic_snapshots.window == "17:00-18:00"  # 02:00-03:00 KST
    job = elasticache_jobs(policy, "daily")[0]
    assert job["rules"]["keep"] == [{"period": "daily", "max_age": 5 * 86400}]
    assert job["rules"]["max_staleness"] == 2 * 86400  # the daily schedule's max_age: never off
    assert elasticache_drills(policy)[0]["source_id"] == "triflow-ai-redis"
    assert s3_buckets(policy)[0]["backup_copy"] == {"bucket": "triflow-ai-files-backup", "prefix": "backups"}


def _bad(change, where: str, what: str) -> None:
    data = copy.deepcopy(SHIPPED)
    change(data)
    with pytest.raises(PolicyError) as failed:
        parse_policy(data)
    text = str(failed.value)
    assert where in text and what in text, text


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        (
            lambda d: d["elasticache"][0].update(tier="hourly"),
            "elasticache[0].tier",
            "not defined under 'schedules'",
        ),
        (lambda d: d["elasticache"][0].update(retension={}), "elasticache[0].retension", "unknown key"),
        (
            lambda d: d["elasticache"][0]["automatic_snapshots"].update(window="2am"),
            "elasticache[0].automatic_snapshots.window",
            "'hh:mm-hh:mm' in UTC",
        ),
        (
            lambda d: d["elasticache"][0]["automatic_snapshots"].update(retention_days=40),
            "elasticache[0].automatic_snapshots.retention_days",
            "35",
        ),
        (
            lambda d: d["elasticache"][0]["resources"][0].update(id="triflow-ai-redis-with-a-very-long-name"),
            "elasticache[0].resources[0].id",
            "40 characters",
        ),
        (
            lambda d: d["elasticache"][0]["resources"][0].update(type="memcached"),
            "elasticache[0].resources[0].type",
            "replication_group",
        ),
        (
            lambda d: d["elasticache"][0]["drill"].update(schedule="never"),
            "elasticache[0].drill.schedule",
            "never",
        ),
        (lambda d: d["s3"].update(schedule="hourly"), "s3.schedule", "not defined under 'schedules'"),
        (lambda d: d["s3"].update(recovery_window="a month"), "s3.recovery_window", "a month"),
        (lambda d: d["s3"]["buckets"][0].update(versioning=False), "s3.buckets[0].versioning", "unknown key"),
        (
            lambda d: d["s3"]["buckets"][0]["backup_copy"].update(bucket="triflow-ai-files"),
            "s3.buckets[0]",
            "backup_copy.bucket must differ",
        ),
        (
            lambda d: d["s3"]["buckets"][0]["backup_copy"].update(prefix="../elsewhere"),
            "s3.buckets[0].backup_copy.prefix",
            "no '.' or '..' segment",
        ),
        (lambda d: d["s3"]["buckets"].append(d["s3"]["buckets"][0]), "s3", "buckets lists a bucket twice"),
    ],
)
def test_a_bad_value_is_named_by_its_key_path(change, where, what):
    _bad(change, where, what)
