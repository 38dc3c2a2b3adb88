"""Deferrable wait for an RDS DB instance to become available, or to be gone.

Polls DescribeDBInstances (see backstop.triggers.base). A restore that ends in a terminal state (`failed`, `incompatible-restore`, ...) is
an error at once, not a timeout; an instance that vanishes while we wait for `available`
is an error too.
"""

from __future__ import annotations

from typing import Any

from backstop.triggers.base import PollingTrigger

FAILED_STATES = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "incompatible-network",
        "incompatible-option-group",
        "inaccessible-encryption-credentials",
        "restore-error",
        "storage-full",
    }
)


def instance_state(client: Any, instance_id: str, target: str) -> tuple[str, str]:
    """One poll: ("success" | "pending" | "failed" | "not_found", message).

    `target` is "available" or "deleted". For "deleted", not found is success.
    """
    from botocore.exceptions import ClientError

    try:
        items = client.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
            items = []
        else:
            raise
    if not items:
        if target == "deleted":
            return "success", f"{instance_id} is gone"
        return "not_found", f"{instance_id} does not exist"
    status = items[0].get("DBInstanceStatus", "?")
    if target == "available":
        if status == "available":
            return "success", f"{instance_id} is available"
        if status in FAILED_STATES:
            return "failed", f"{instance_id} is in terminal state {status!r}"
    return "pending", f"{instance_id} is {status!r}, waiting for {target}"


class RdsInstanceStateTrigger(PollingTrigger):
    """Fire once the instance reached `target` ("available" | "deleted"), failed, or timed out.

    Emits `{"status": "success" | "failed" | "not_found" | "timeout", "instance_id", "message"}`.
    """

    subject_fields = ("instance_id", "target")
    event_key = "instance_id"

    def __init__(
        self, *, instance_id: str, target: str = "available", max_attempts: int = 120, **kwargs: Any
    ) -> None:
        super().__init__(max_attempts=max_attempts, **kwargs)
        self.instance_id = instance_id
        self.target = target

    def subject(self) -> str:
        return self.instance_id

    def poll(self, client: Any) -> tuple[str, str]:
        return instance_state(client, self.instance_id, self.target)
