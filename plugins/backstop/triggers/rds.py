"""Deferrable wait for an RDS snapshot (instance or cluster) to become available.

Runs in the triggerer. Each poll describes the snapshot by identifier through the
provider's RdsHook (in a worker thread, since the provider's async client needs aiobotocore,
which Backstop does not install). Unlike boto3's `db_snapshot_completed` waiter, a snapshot
that is not found is an error, not a success.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from backstop.aws.rds import wait_status
from backstop.operators.base import make_hook

RDS_HOOK = "airflow.providers.amazon.aws.hooks.rds.RdsHook"


class RdsSnapshotAvailableTrigger(BaseTrigger):
    """Fire once the snapshot is `available`, has failed, vanished, or the wait timed out.

    Emits `{"status": "success" | "failed" | "not_found" | "timeout", "snapshot_id", "message"}`.

    :param db_type: "instance" or "cluster".
    :param snapshot_id: the snapshot identifier to watch.
    :param poll_interval: seconds between describes.
    :param max_attempts: polls before giving up with `timeout`.
    """

    def __init__(
        self,
        *,
        db_type: str,
        snapshot_id: str,
        poll_interval: float = 30,
        max_attempts: int = 240,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.db_type = db_type
        self.snapshot_id = snapshot_id
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
                "db_type": self.db_type,
                "snapshot_id": self.snapshot_id,
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
                wait_status, self.hook.conn, self.db_type, self.snapshot_id
            )
            if status != "pending":
                yield TriggerEvent({"status": status, "snapshot_id": self.snapshot_id, "message": message})
                return
            self.log.info("Waiting (%d/%d): %s", attempt, self.max_attempts, message)
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent(
            {
                "status": "timeout",
                "snapshot_id": self.snapshot_id,
                "message": f"gave up after {self.max_attempts} polls; last seen: {message}",
            }
        )
