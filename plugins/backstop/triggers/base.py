"""The shared shape of Backstop's deferrable waits: poll a describe call until it settles.

Runs in the triggerer. Each poll calls a plain function on a client from the provider's hook,
in a worker thread (the provider's async clients need aiobotocore, which Backstop does not
install). A subclass names what it watches (`subject`) and gives the one-poll function; the
event is `{"status": "success" | "failed" | "not_found" | "timeout", <subject key>, "message"}`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from backstop.operators.base import make_hook

RDS_HOOK = "airflow.providers.amazon.aws.hooks.rds.RdsHook"


class PollingTrigger(BaseTrigger):
    """Poll `poll(client)` every `poll_interval` s until it is not "pending", at most `max_attempts` times."""

    hook_class_path = RDS_HOOK
    #: the constructor arguments that say what is watched (serialized with the rest)
    subject_fields: tuple[str, ...] = ()
    #: the key of the watched thing's identifier in the event payload
    event_key: str = "id"

    def __init__(
        self,
        *,
        poll_interval: float = 30,
        max_attempts: int = 240,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self._hook: Any = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        fields = ("poll_interval", "max_attempts", "aws_conn_id", "region_name", "verify", "botocore_config")
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {name: getattr(self, name) for name in (*self.subject_fields, *fields)},
        )

    @property
    def hook(self) -> Any:
        if self._hook is None:
            self._hook = make_hook(
                self.hook_class_path,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            )
        return self._hook

    def subject(self) -> str:
        raise NotImplementedError

    def poll(self, client: Any) -> tuple[str, str]:
        """One look: ("success" | "failed" | "not_found" | "pending", message). Runs in a thread."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        message = ""
        for attempt in range(1, self.max_attempts + 1):
            status, message = await asyncio.to_thread(self.poll, self.hook.conn)
            if status != "pending":
                yield TriggerEvent({"status": status, self.event_key: self.subject(), "message": message})
                return
            self.log.info("Waiting (%d/%d): %s", attempt, self.max_attempts, message)
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent(
            {
                "status": "timeout",
                self.event_key: self.subject(),
                "message": f"gave up after {self.max_attempts} polls; last seen: {message}",
            }
        )
