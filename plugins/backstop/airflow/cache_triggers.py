"""Deferrable waits for ElastiCache: a snapshot becoming available, a replication group settling.

Same polling shape as backstop.airflow.triggers (shared client per connection, polls in a worker
thread); only the hook class and the one-look functions differ.
"""

from __future__ import annotations

from typing import Any

from backstop.airflow.triggers import PollingTrigger
from backstop.aws.elasticache import ELASTICACHE_HOOK


class CacheSnapshotAvailableTrigger(PollingTrigger):
    """Fire once an ElastiCache snapshot is `available`, failed, vanished, or timed out."""

    hook_class_path = ELASTICACHE_HOOK
    subject_fields = ("snapshot_name",)
    event_key = "snapshot_name"

    def __init__(self, *, snapshot_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot_name = snapshot_name

    def poll(self, client: Any) -> tuple[str, str]:
        from backstop.aws.elasticache import snapshot_status

        return snapshot_status(client, self.snapshot_name)


class CacheGroupStateTrigger(PollingTrigger):
    """Fire once a replication group reached `target` ("available" | "deleted"), failed, or timed out."""

    hook_class_path = ELASTICACHE_HOOK
    subject_fields = ("group_id", "target")
    event_key = "group_id"

    def __init__(self, *, group_id: str, target: str = "available", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.target = target

    def poll(self, client: Any) -> tuple[str, str]:
        from backstop.aws.elasticache import group_state

        return group_state(client, self.group_id, self.target)
