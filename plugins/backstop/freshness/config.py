"""What the freshness DAG needs from the policy, at parse time (plain data, no I/O)."""

from __future__ import annotations

from typing import Any

from backstop.freshness.registry import all_targets


def drill_places(policy: Any) -> list[dict[str, str]]:
    """Each drill of the policy: its name, the resource it restores and the region it restores in."""
    return [
        {
            "name": d.name,
            "source": d.source,
            "region": d.dr_region if d.kind == "dr_snapshot" else (d.region or policy.defaults.region),
        }
        for d in policy.drills
    ]


def monitor_arguments(policy: Any) -> dict[str, Any]:
    """Keyword arguments for FreshnessMonitorOperator (empty `targets`: nothing to monitor)."""
    return {
        "aws_conn_id": policy.defaults.aws_conn_id,
        "region_name": policy.defaults.region,
        "targets": [t.to_xcom() for t in all_targets(policy)],
        "drills": drill_places(policy),
        "report_bucket": policy.defaults.report_bucket,
        "reminder_every_s": policy.freshness.reminder_every.total_seconds(),
        "slack_conn_id": policy.defaults.slack.conn_id,
    }
