"""What the bunker DAG files need from the policy, as plain values (parse time)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from backstop.policy.model import BackupPolicy
from backstop.policy.views import plain_retention


def bunker_copy_settings(policy: BackupPolicy) -> dict[str, Any] | None:
    """The bunker account, its connection, regions (with keys) and the databases that asked; None if none."""
    bunker = policy.bunker
    if bunker is None:
        return None
    return {
        "account_id": bunker.account_id,
        "aws_conn_id": bunker.aws_conn_id,
        "regions": [{"region": r.region, "kms_key_id": r.kms_key_id} for r in bunker.regions],
        "databases": [d.model_dump() for d in bunker.databases],
    }


def bunker_retention_rules(policy: BackupPolicy) -> dict[str, dict[str, Any] | None]:
    """Snapshot policy name -> the bunker's retention as planner rules (views.plain_retention).

    Bunker copies keep their source's `backstop:policy` and tier, so the stale-backup halt uses
    that tier's `max_age`, exactly as retention_prune does in the source account. No
    `bunker.retention` gives None: the planner refuses to prune (and says so).
    """
    bunker = policy.bunker
    if bunker is None:
        return {}
    tiers = {p.name: p.tier for p in policy.rds_snapshots}
    return {
        name: plain_retention(policy, SimpleNamespace(tier=tiers[name], retention=bunker.retention))
        for name in sorted({d.policy for d in bunker.databases})
    }
