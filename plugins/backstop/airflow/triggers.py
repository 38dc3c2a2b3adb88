"""Backstop's deferrable waits: poll a describe call in the triggerer until it settles.

Each poll calls a plain function from backstop.aws on a client from the provider's hook, in a
worker thread (the provider's async clients need aiobotocore, which Backstop does not
install). A subclass names what it watches (`subject`) and gives the one-poll function; the
event is `{"status": "success" | "failed" | "not_found" | "timeout", <event_key>, "message"}`.
Parameters follow the provider's triggers (`waiter_delay`, `waiter_max_attempts`).

Nothing blocking runs on the triggerer's event loop: the client is looked up and, the first
time, built (connection read, boto3 session and client: about 0.1 s and 13 MB) inside the
same worker thread as the poll. Triggers with the same connection, region, hook class,
`verify` and `botocore_config` share one client per process (`backstop.aws.hooks.shared_hook`),
so a triggerer holding 1,000 deferred waits holds a handful of clients, not 1,000.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from backstop.aws.hooks import RDS_HOOK, shared_hook


class PollingTrigger(BaseTrigger):
    """Poll `poll(client)` every `waiter_delay` s until it is not "pending", at most `waiter_max_attempts` times."""

    hook_class_path = RDS_HOOK
    #: the constructor arguments that say what is watched (serialized with the rest)
    subject_fields: tuple[str, ...] = ()
    #: the key of the watched thing's identifier in the event payload
    event_key: str = "id"

    def __init__(
        self,
        *,
        waiter_delay: float = 30,
        waiter_max_attempts: int = 240,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        fields = (
            "waiter_delay",
            "waiter_max_attempts",
            "aws_conn_id",
            "region_name",
            "verify",
            "botocore_config",
        )
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {name: getattr(self, name) for name in (*self.subject_fields, *fields)},
        )

    @property
    def hook(self) -> Any:
        """The provider hook shared by every trigger with this connection, region and config.

        Blocking the first time in this process (it builds the client): `run()` reads it only
        from a worker thread. Tests may register botocore handlers on `hook.conn`; they reach
        every trigger sharing it (clear with `backstop.aws.hooks.clear_shared_hooks`).
        """
        return shared_hook(
            self.hook_class_path,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )

    def subject(self) -> str:
        return str(getattr(self, self.subject_fields[0]))

    def poll(self, client: Any) -> tuple[str, str]:
        """One look: ("success" | "failed" | "not_found" | "pending", message). Runs in a thread."""
        raise NotImplementedError

    def look(self) -> tuple[str, str]:
        """Get the shared client (building it on first use) and poll once. Runs in a worker thread."""
        return self.poll(self.hook.conn)

    def end_task(self, client: Any) -> TriggerEvent | None:
        """On "success": an event that ends the task here (TaskSuccessEvent), or None to resume it on a worker.

        Runs in a worker thread. Ending here saves the task a second run on a worker (fork, DAG
        parse, API calls): half the worker time of a wait, at 200 databases the difference
        between minutes and most of an hour on a small Celery deployment (bench/scaleout.py).
        """
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        message = ""
        for attempt in range(1, self.waiter_max_attempts + 1):
            status, message = await asyncio.to_thread(self.look)
            if status == "success":
                ended = await asyncio.to_thread(lambda: self.end_task(self.hook.conn))
                if ended is not None:
                    yield ended
                    return
            if status != "pending":
                yield TriggerEvent({"status": status, self.event_key: self.subject(), "message": message})
                return
            self.log.info("Waiting (%d/%d): %s", attempt, self.waiter_max_attempts, message)
            await asyncio.sleep(self.waiter_delay)
        yield TriggerEvent(
            {
                "status": "timeout",
                self.event_key: self.subject(),
                "message": f"gave up after {self.waiter_max_attempts} polls; last seen: {message}",
            }
        )


class RdsSnapshotAvailableTrigger(PollingTrigger):
    """Fire once an RDS snapshot (instance or cluster) is `available`, failed, vanished, or timed out.

    Unlike boto3's `db_snapshot_completed` waiter, a snapshot that is not found is an error.

    :param db_type: "instance" or "cluster".
    :param snapshot_id: the snapshot identifier to watch (in `region_name`).
    :param finish: from the task (`RdsManagedSnapshotOperator._trigger_finish`): what the
        snapshot must show (`expected`), `adopted` and `started`. When given and the available
        snapshot shows it, the trigger ends the task with its result as XCom; otherwise (or when
        None) the task resumes on a worker, which verifies and reports.
    """

    subject_fields = ("snapshot_id", "db_type", "finish")
    event_key = "snapshot_id"

    def __init__(
        self, *, db_type: str, snapshot_id: str, finish: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.db_type = db_type
        self.snapshot_id = snapshot_id
        self.finish = finish

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Without `finish` when there is none: the same form as before it existed (triggers that
        were deferred by an older Backstop are rebuilt from their stored kwargs)."""
        classpath, kwargs = super().serialize()
        if kwargs.get("finish") is None:
            kwargs.pop("finish", None)
        return classpath, kwargs

    def poll(self, client: Any) -> tuple[str, str]:
        from backstop.aws.rds_snapshots import wait_status

        return wait_status(client, self.db_type, self.snapshot_id)

    def end_task(self, client: Any) -> TriggerEvent | None:
        from datetime import datetime

        from backstop.aws.rds_snapshots import describe_snapshot
        from backstop.snapshots.verify import snapshot_problems, verified_result

        if not self.finish:
            return None
        info = describe_snapshot(client, self.db_type, self.snapshot_id)
        if info is None or snapshot_problems(info, self.finish["expected"]):
            return None  # the worker describes again and fails with the reasons
        result = verified_result(
            info, adopted=bool(self.finish["adopted"]), started=datetime.fromisoformat(self.finish["started"])
        )
        self.log.info(
            "Verified %s: %s, source %s, encrypted=%s, %s in %.1fs; the task ends here",
            self.snapshot_id,
            info.status,
            info.source_id,
            info.encrypted,
            "adopted" if result["adopted"] else "created",
            result["duration_seconds"],
        )
        return end_with_result(self, result)


def end_with_result(trigger: BaseTrigger, result: Any) -> TriggerEvent:
    """A TaskSuccessEvent that ends the trigger's task with `result` as its return value (XCom).

    In a triggerer the XCom goes through the triggerer's execution-API client (`XCom.set`), as a
    task's own return value does: Airflow 3.3 stores `TaskSuccessEvent(xcoms=...)` JSON-encoded
    once more than a task's XCom, so downstream tasks would read a string (seen in
    tests/deploy/test_celery_scaleout.py). A trigger run outside a triggerer (no
    `task_instance`: unit tests) carries the result in the event instead.
    """
    from airflow.triggers.base import TaskSuccessEvent

    ti = getattr(trigger, "task_instance", None)
    if ti is None:
        return TaskSuccessEvent(xcoms={"return_value": result})
    from airflow.sdk.bases.xcom import BaseXCom

    BaseXCom.set(
        "return_value", result, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index
    )
    return TaskSuccessEvent()


class RdsInstanceStateTrigger(PollingTrigger):
    """Fire once an RDS instance reached `target` ("available" | "deleted"), failed, or timed out.

    A restore that ends in a terminal state is an error at once, not a timeout; an instance
    that vanishes while we wait for `available` is an error too.
    """

    subject_fields = ("instance_id", "target")
    event_key = "instance_id"

    def __init__(
        self, *, instance_id: str, target: str = "available", waiter_max_attempts: int = 120, **kwargs: Any
    ) -> None:
        super().__init__(waiter_max_attempts=waiter_max_attempts, **kwargs)
        self.instance_id = instance_id
        self.target = target

    def poll(self, client: Any) -> tuple[str, str]:
        from backstop.aws.rds_instances import instance_state

        return instance_state(client, self.instance_id, self.target)


class EcsServiceSteadyTrigger(PollingTrigger):
    """Fire once an ECS service runs its desired count again, every task RUNNING, the stopped one gone,
    and, when `target_group_arn` is given, that target group healthy.

    The task-loss drill's wait (backstop.resilience.task_loss). The event carries `at`, when the
    service was seen whole, so the measured recovery does not include the triggerer's latency.
    """

    hook_class_path = "airflow.providers.amazon.aws.hooks.ecs.EcsHook"
    subject_fields = ("service", "cluster", "stopped_task", "target_group_arn")
    event_key = "service"

    def __init__(
        self,
        *,
        cluster: str,
        service: str,
        stopped_task: str,
        target_group_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster = cluster
        self.service = service
        self.stopped_task = stopped_task
        self.target_group_arn = target_group_arn

    def look(self) -> tuple[str, str]:
        elb = None
        if self.target_group_arn:
            from backstop.aws.elbv2 import ELBV2_HOOK

            elb = shared_hook(
                ELBV2_HOOK,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ).conn
        return self.poll(self.hook.conn, elb)

    def poll(self, client: Any, elb_client: Any = None) -> tuple[str, str]:
        from datetime import UTC, datetime

        from backstop.aws.ecs import recovery_state

        state, message = recovery_state(
            client, self.cluster, self.service, self.stopped_task, elb_client, self.target_group_arn
        )
        return state, f"{message} (seen {datetime.now(UTC).isoformat()})"
