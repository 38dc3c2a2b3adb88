"""RDS calls of the failover drill: the forced-failover reboot and the instance's recent events.

Functions take a boto3 RDS client made by the provider's RdsHook.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def reboot_with_failover(client: Any, instance_id: str) -> dict[str, Any]:
    """RebootDBInstance with ForceFailover: the standby is promoted (Multi-AZ instances only)."""
    return client.reboot_db_instance(DBInstanceIdentifier=instance_id, ForceFailover=True)["DBInstance"]


def instance_events(client: Any, instance_id: str, since: datetime) -> list[dict[str, Any]]:
    """The instance's events since `since`, oldest first (Date, Message, EventCategories)."""
    events: list[dict[str, Any]] = []
    for page in client.get_paginator("describe_events").paginate(
        SourceIdentifier=instance_id, SourceType="db-instance", StartTime=since
    ):
        events.extend(page.get("Events") or [])
    # StartTime is applied again here: an emulator that ignores it must not pass an old failover off as new
    return sorted((e for e in events if e["Date"] >= since), key=lambda e: e["Date"])
