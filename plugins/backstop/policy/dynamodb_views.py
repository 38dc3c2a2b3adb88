"""Parse-time views of the `dynamodb` policy section for the DynamoDB DAGs (wiring data only)."""

from __future__ import annotations

from typing import Any

from backstop.policy.dynamodb import ItemProbe
from backstop.policy.model import BackupPolicy


def dynamodb_tiers(policy: BackupPolicy) -> list[str]:
    used = {p.tier for p in policy.dynamodb}
    return [tier for tier in policy.schedules if tier in used]


def dynamodb_jobs(policy: BackupPolicy, tier: str) -> list[dict[str, Any]]:
    """One job per protected table of a tier: what the PITR check, backup and export tasks need."""
    return [
        {
            "policy": item.name,
            "tier": item.tier,
            "region": item.region or policy.defaults.region,
            "table": table,
            "pitr": item.pitr,
            "dr_regions": [d.model_dump() for d in item.dr_regions],
            "alert_channel": item.slack_channel,
        }
        for item in policy.dynamodb
        if item.tier == tier
        for table in item.tables
    ]


def dynamodb_retention(policy: BackupPolicy, tier: str) -> dict[str, dict[str, Any] | None]:
    """Policy name -> plain retention rules for the planner (views.plain_retention)."""
    from backstop.policy.views import plain_retention

    return {item.name: plain_retention(policy, item) for item in policy.dynamodb if item.tier == tier}


def dynamodb_drills(policy: BackupPolicy, schedule: str | None = None) -> list[dict[str, Any]]:
    """One drill per (table, kind), for the drill DAG."""
    out = []
    for item in policy.dynamodb:
        drill = item.drill
        if drill is None or (schedule is not None and drill.schedule != schedule):
            continue
        assert item.objectives is not None  # checked by DynamoDbPolicy
        for table in item.tables:
            for kind in drill.kinds:
                out.append(
                    {
                        "policy": item.name,
                        "region": item.region or policy.defaults.region,
                        "table": table,
                        "kind": kind,
                        "dr": next(
                            (d.model_dump() for d in item.dr_regions if d.region == drill.dr_region), None
                        )
                        if kind == "dr_export"
                        else None,
                        "restore_offset_seconds": drill.restore_offset.total_seconds(),
                        "max_lifetime_seconds": drill.max_lifetime.total_seconds(),
                        "probes": [_probe(p) for p in drill.probes],
                        "objectives": {
                            "rpo_seconds": item.objectives.rpo.total_seconds(),
                            "rto_seconds": item.objectives.rto.total_seconds(),
                        },
                        "alert_channel": item.slack_channel,
                    }
                )
    return out


def _probe(probe: ItemProbe) -> dict[str, Any]:
    out = probe.model_dump(mode="json", exclude_none=True, exclude={"max_age"})
    if probe.max_age is not None:
        out["max_age_seconds"] = probe.max_age.total_seconds()
    return out


def dynamodb_drill_schedules(policy: BackupPolicy) -> list[str]:
    used = {p.drill.schedule for p in policy.dynamodb if p.drill is not None}
    return [s for s in policy.schedules if s in used]
