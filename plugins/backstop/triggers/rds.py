"""Deferrable wait for an RDS snapshot (instance or cluster) to become available.

Unlike boto3's `db_snapshot_completed` waiter, a snapshot that is not found is an error,
not a success.
"""

from __future__ import annotations

from typing import Any

from backstop.aws.rds import wait_status
from backstop.triggers.base import PollingTrigger


class RdsSnapshotAvailableTrigger(PollingTrigger):
    """Fire once the snapshot is `available`, has failed, vanished, or the wait timed out.

    Emits `{"status": "success" | "failed" | "not_found" | "timeout", "snapshot_id", "message"}`.

    :param db_type: "instance" or "cluster".
    :param snapshot_id: the snapshot identifier to watch (in `region_name`).
    """

    subject_fields = ("db_type", "snapshot_id")
    event_key = "snapshot_id"

    def __init__(self, *, db_type: str, snapshot_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_type = db_type
        self.snapshot_id = snapshot_id

    def subject(self) -> str:
        return self.snapshot_id

    def poll(self, client: Any) -> tuple[str, str]:
        return wait_status(client, self.db_type, self.snapshot_id)
