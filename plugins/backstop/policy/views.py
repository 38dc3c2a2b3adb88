"""Views of the policy that the DAG files need, computed at parse time from the typed models.

A DAG file asks here for "what does this DAG operate on" and passes the answer to its
operators as plain data (XCom- and serialization-safe), so DAG files stay wiring only and
operators never parse the policy.
"""

from __future__ import annotations

from typing import Any

from backstop.policy.model import BackupPolicy


def plain_retention(policy: BackupPolicy, item: Any) -> dict[str, Any] | None:
    """One policy entry's retention as plain rules for the planner (seconds for durations).

    None (no `retention`) is what the planner treats as "refuse to prune". `max_staleness` is
    the entry's tier's schedule `max_age`: an older newest backup halts pruning. Any entry with
    `tier` and `retention` (RDS, DynamoDB, ElastiCache) goes through here.
    """
    if item.retention is None:
        return None
    max_age = policy.schedules[item.tier].max_age
    return {
        "keep": [
            {
                "period": rule.period,
                "count": rule.count,
                "max_age": rule.max_age.total_seconds() if rule.max_age else None,
            }
            for rule in item.retention.keep
        ],
        "min_keep": item.retention.min_keep,
        "max_staleness": max_age.total_seconds() if max_age else None,
        "timezone": policy.defaults.timezone,
    }


def retention_rules(policy: BackupPolicy) -> dict[str, dict[str, Any] | None]:
    """RDS policy name -> plain retention rules for RetentionPlanOperator (see plain_retention)."""
    return {item.name: plain_retention(policy, item) for item in policy.rds_snapshots}


def snapshot_regions(policy: BackupPolicy) -> list[str]:
    """Every region holding managed snapshots: each policy's source region and its DR regions."""
    regions = {policy.region_of(item) for item in policy.rds_snapshots}
    regions |= {dr.region for item in policy.rds_snapshots for dr in item.dr_regions}
    return sorted(regions)


def snapshot_targets(policy: BackupPolicy, tier: str) -> list[dict[str, Any]]:
    """The resources a tier's snapshot DAG covers, for RdsResolveTargetsOperator (one dict each)."""
    return [
        {
            "policy": item.name,
            "region": policy.region_of(item),
            "alert_channel": item.slack_channel,
            **resource.model_dump(exclude_none=True),
        }
        for item in policy.policies_for_tier(tier)
        for resource in item.resources
    ]


def copy_destinations(policy: BackupPolicy) -> dict[str, list[dict[str, Any]]]:
    """DR region -> the policies copying there, each with its own key and alert channel.

    Each policy's copies are encrypted with that policy's `kms_key_id` for the region and its
    failures alert its `slack_channel`: two teams copying to one region never share a key.
    """
    destinations: dict[str, list[dict[str, Any]]] = {}
    for item in policy.rds_snapshots:
        for dr in item.dr_regions:
            destinations.setdefault(dr.region, []).append(
                {
                    "policy": item.name,
                    "region": policy.region_of(item),
                    "kms_key_id": dr.kms_key_id,
                    "alert_channel": item.slack_channel,
                }
            )
    return dict(sorted(destinations.items()))


def policy_channels(policy: BackupPolicy) -> dict[str, str]:
    """Snapshot policy name -> its own Slack channel, for policies that set `slack_channel`."""
    return {item.name: item.slack_channel for item in policy.rds_snapshots if item.slack_channel}
