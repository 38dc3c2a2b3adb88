"""Deferrable wait for an RDS DB instance to become available, or to be gone.

Runs in the triggerer. Polls DescribeDBInstances through the provider's RdsHook in a worker
thread (the provider's own RdsDbAvailableTrigger needs aiobotocore, which Backstop does not
install). A restore that ends in a terminal state (`failed`, `incompatible-restore`, ...) is
an error at once, not a timeout; an instance that vanishes while we wait for `available`
is an error too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from backstop.operators.base import make_hook

RDS_HOOK = "airflow.providers.amazon.aws.hooks.rds.RdsHook"

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


class RdsInstanceStateTrigger(BaseTrigger):
    """Fire once the instance reached `target` ("available" | "deleted"), failed, or timed out.

    Emits `{"status": "success" | "failed" | "not_found" | "timeout", "instance_id", "message"}`.
    """

    def __init__(
        self,
        *,
        instance_id: str,
        target: str = "available",
        poll_interval: float = 30,
        max_attempts: int = 120,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.target = target
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self._hook: Any = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "instance_id": self.instance_id,
                "target": self.target,
                "poll_interval": self.poll_interval,
                "max_attempts": self.max_attempts,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    @property
    def hook(self) -> Any:
        if self._hook is None:
            self._hook = make_hook(
                RDS_HOOK,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            )
        return self._hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        message = ""
        for attempt in range(1, self.max_attempts + 1):
            status, message = await asyncio.to_thread(
                instance_state, self.hook.conn, self.instance_id, self.target
            )
            if status != "pending":
                yield TriggerEvent({"status": status, "instance_id": self.instance_id, "message": message})
                return
            self.log.info("Waiting (%d/%d): %s", attempt, self.max_attempts, message)
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent(
            {
                "status": "timeout",
                "instance_id": self.instance_id,
                "message": f"gave up after {self.max_attempts} polls; last seen: {message}",
            }
        )
