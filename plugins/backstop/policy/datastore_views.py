"""What the ElastiCache and S3 DAG files need from the policy, as plain values (parse time)."""

from __future__ import annotations

from typing import Any

from backstop.policy.model import BackupPolicy


def elasticache_tiers(policy: BackupPolicy) -> list[str]:
    """Schedules with at least one elasticache policy, in schedule order."""
    used = {p.tier for p in policy.elasticache}
    return [tier for tier in policy.schedules if tier in used]


def elasticache_jobs(policy: BackupPolicy, tier: str) -> list[dict[str, Any]]:
    """One entry per elasticache policy of this tier: region, channel, resources, posture, retention."""
    from backstop.elasticache.retention import retention_rules

    jobs = []
    for p in policy.elasticache:
        if p.tier != tier:
            continue
        auto = p.automatic_snapshots
        jobs.append(
            {
                "name": p.name,
                "region": p.region or policy.defaults.region,
                "channel": p.slack_channel or policy.defaults.slack.channel,
                "resources": [{"type": r.type, "id": r.id} for r in p.resources],
                "posture": [
                    {"type": r.type, "id": r.id, "retention_days": auto.retention_days, "window": auto.window}
                    for r in p.resources
                ]
                if auto
                else [],
                "export": p.export.model_dump() if p.export else None,
                "rules": retention_rules(
                    p.retention.max_age,
                    p.retention.min_keep,
                    policy.schedules[tier].max_age,
                    policy.defaults.timezone,
                )
                if p.retention
                else None,
            }
        )
    return jobs


def elasticache_drills(policy: BackupPolicy) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{p.name}-drill",
            "policy": p.name,
            "schedule": p.drill.schedule,
            "source_id": p.resources[0].id,
            "region": p.region or policy.defaults.region,
            "node_type": p.drill.node_type,
            "rto_seconds": p.drill.rto.total_seconds(),
            "max_lifetime_seconds": p.drill.max_lifetime.total_seconds(),
            "channel": p.slack_channel or policy.defaults.slack.channel,
            # the DR-export drill: a group seeded in dr_region from the newest exported .rdb files there
            "dr_export": {"bucket": p.export.dr_bucket, "region": p.export.dr_region}
            if p.drill.from_dr_export and p.export is not None
            else None,
        }
        for p in policy.elasticache
        if p.drill is not None
    ]


def s3_buckets(policy: BackupPolicy) -> list[dict[str, Any]]:
    """Each protected bucket with what its posture check expects."""
    if policy.s3 is None:
        return []
    return [
        {
            "bucket": b.name,
            "region": b.region or policy.defaults.region,
            "replication_destination": b.replication.destination_bucket if b.replication else None,
            "object_lock": b.object_lock,
            "recovery_window_days": policy.s3.recovery_window.days,
            "backup_copy": {"bucket": b.backup_copy.bucket, "prefix": b.backup_copy.prefix}
            if b.backup_copy
            else None,
        }
        for b in policy.s3.buckets
    ]
