"""RdsInstanceStateTrigger against the moto server: available, gone, vanished, failed."""

from __future__ import annotations

import asyncio

from backstop.triggers.rds_instance import RdsInstanceStateTrigger


def _event(trigger):
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first())


def _trigger(instance_id, target="available", **kwargs):
    return RdsInstanceStateTrigger(
        instance_id=instance_id, target=target, poll_interval=0, region_name="ap-northeast-2", **kwargs
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
    trigger = _trigger("triflow-ai-staging-db", max_attempts=5)

    def failed(parsed, **_):  # moto has no failing restores: rewrite the real response
        for item in parsed.get("DBInstances", []):
            item["DBInstanceStatus"] = "incompatible-restore"

    trigger.hook.conn.meta.events.register("after-call.rds.DescribeDBInstances", failed)
    assert _event(trigger)["status"] == "failed"


def test_round_trips_through_serialize(fleet):
    classpath, kwargs = _trigger("x", target="deleted").serialize()
    assert classpath == "backstop.triggers.rds_instance.RdsInstanceStateTrigger"
    rebuilt = RdsInstanceStateTrigger(**kwargs)
    assert (rebuilt.instance_id, rebuilt.target, rebuilt.region_name) == ("x", "deleted", "ap-northeast-2")
