"""RdsInstanceStateTrigger against the moto server: available, gone, vanished, failed."""

from __future__ import annotations

import asyncio

from backstop.airflow.triggers import RdsInstanceStateTrigger


def _event(trigger):
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first())


def _trigger(instance_id, target="available", **kwargs):
    return RdsInstanceStateTrigger(
        instance_id=instance_id, target=target, waiter_delay=0, region_name="ap-northeast-2", **kwargs
    )


def test_available_instance_succeeds(fleet):
    assert _event(_trigger("triflow-ai-staging-db"))["status"] == "success"


def test_missing_instance_is_not_found_when_waiting_for_available(fleet):
    event = _event(_trigger("no-such-db"))
    assert event == {
        "status": "not_found",
        "instance_id": "no-such-db",
        "message": "no-such-db does not exist",
    }


def test_missing_instance_is_success_when_waiting_for_deletion(fleet):
    assert _event(_trigger("no-such-db", target="deleted"))["status"] == "success"


def test_failed_restore_is_reported_at_once(fleet):
    trigger = _trigger("triflow-ai-staging-db", waiter_max_attempts=5)

    def failed(parsed, **_):  # moto has no failing restores: rewrite the real response
        for item in parsed.get("DBInstances", []):
            item["DBInstanceStatus"] = "incompatible-restore"

    trigger.hook.conn.meta.events.register("after-call.rds.DescribeDBInstances", failed)
    assert _event(trigger)["status"] == "failed"


def test_round_trips_through_serialize(fleet):
    classpath, kwargs = _trigger("x", target="deleted").serialize()
    assert classpath == "backstop.airflow.triggers.RdsInstanceStateTrigger"
    rebuilt = RdsInstanceStateTrigger(**kwargs)
    assert (rebuilt.instance_id, rebuilt.target, rebuilt.region_name) == ("x", "deleted", "ap-northeast-2")


def _creating_first(client, times: int) -> list[str]:
    served: list[str] = []

    def rewrite(parsed, **_):
        if len(served) < times and parsed.get("DBInstances"):
            parsed["DBInstances"][0]["DBInstanceStatus"] = "creating"
            served.append("creating")

    client.meta.events.register("after-call.rds.DescribeDBInstances", rewrite)
    return served


def test_wait_operator_defers_to_the_instance_trigger(fleet):
    import pytest
    from airflow.sdk.exceptions import TaskDeferred

    from backstop.drills.restore import RdsInstanceWaitOperator

    op = RdsInstanceWaitOperator(
        task_id="wait", instance_id="triflow-ai-staging-db", region_name="ap-northeast-2"
    )
    _creating_first(op.hook.conn, 1)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert isinstance(deferred.value.trigger, RdsInstanceStateTrigger)
    assert deferred.value.trigger.region_name == "ap-northeast-2"
    result = op.execute_complete({}, _event(deferred.value.trigger), **deferred.value.kwargs)
    assert result["instance_id"] == "triflow-ai-staging-db"


def test_wait_operator_polls_in_the_worker_when_not_deferrable(fleet):
    from backstop.drills.restore import RdsInstanceWaitOperator

    op = RdsInstanceWaitOperator(
        task_id="wait",
        instance_id="triflow-ai-staging-db",
        region_name="ap-northeast-2",
        deferrable=False,
        waiter_delay=0,
    )
    served = _creating_first(op.hook.conn, 2)
    assert op.execute({})["state"] == "available"
    assert served == ["creating", "creating"]
