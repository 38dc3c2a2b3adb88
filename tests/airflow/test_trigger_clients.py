"""Triggers share one client per connection/region/config and never build it on the event loop."""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest

import backstop.aws.hooks as hooks
from backstop.airflow.triggers import RdsInstanceStateTrigger, RdsSnapshotAvailableTrigger

REGION = "ap-northeast-2"


@pytest.fixture
def builds(monkeypatch):
    """(thread id, region) of every hook the shared cache builds."""
    seen: list[tuple[int, str | None]] = []
    real = hooks.make_hook

    def recording(hook_class, **kwargs):
        seen.append((threading.get_ident(), kwargs["region_name"]))
        return real(hook_class, **kwargs)

    monkeypatch.setattr(hooks, "make_hook", recording)
    return seen


def _trigger(instance_id="triflow-ai-staging-db", **kwargs):
    return RdsInstanceStateTrigger(
        instance_id=instance_id, waiter_delay=0, **{"region_name": REGION, **kwargs}
    )


async def _events(triggers):
    async def first(trigger):
        async for event in trigger.run():
            return event.payload

    return await asyncio.gather(*(first(t) for t in triggers))


def test_many_triggers_share_one_client_built_off_the_loop(fleet, builds):
    async def main():
        loop_thread = threading.get_ident()
        payloads = await _events([_trigger() for _ in range(20)])
        return loop_thread, payloads

    loop_thread, payloads = asyncio.run(main())
    assert [p["status"] for p in payloads] == ["success"] * 20
    assert len(builds) == 1, builds  # 20 concurrent first polls, one client
    assert builds[0][0] != loop_thread


def test_a_different_region_or_config_gets_its_own_client(fleet, builds):
    asyncio.run(
        _events(
            [
                _trigger(),
                _trigger(),
                _trigger("x", target="deleted", region_name="ap-northeast-1"),
                _trigger(botocore_config={"retries": {"mode": "standard", "max_attempts": 3}}),
                _trigger(botocore_config={"retries": {"max_attempts": 3, "mode": "standard"}}),
            ]
        )
    )
    assert sorted(region for _, region in builds) == ["ap-northeast-1", REGION, REGION]
    assert _trigger().hook is _trigger().hook
    assert _trigger().hook.conn is not _trigger(region_name="ap-northeast-1").hook.conn


def test_snapshot_and_instance_triggers_share_the_rds_client(fleet, builds):
    snapshot = RdsSnapshotAvailableTrigger(db_type="instance", snapshot_id="s", region_name=REGION)
    assert snapshot.hook.conn is _trigger().hook.conn
    assert len(builds) == 1


def test_an_edited_connection_reaches_the_shared_client_and_an_unchanged_one_costs_no_rebuild(
    fleet, builds, monkeypatch
):
    first = _trigger().hook
    monkeypatch.setattr(hooks, "SHARED_HOOK_RECHECK", 0.0)
    assert _trigger().hook is first  # re-read, unchanged: same client
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn["extra"] = {
        **conn.get("extra", {}),
        "config_kwargs": {"retries": {"mode": "standard", "max_attempts": 2}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    second = _trigger().hook
    assert second is not first
    assert _trigger().hook is second
    assert len(builds) == 2
    assert asyncio.run(_events([_trigger()]))[0]["status"] == "success"


def test_a_connection_that_cannot_be_re_read_keeps_the_working_client(fleet, builds, monkeypatch):
    first = _trigger().hook
    monkeypatch.setattr(hooks, "SHARED_HOOK_RECHECK", 0.0)

    def unreachable(*_, **__):
        raise ConnectionError("API server unreachable")

    monkeypatch.setattr(hooks, "_connection_fingerprint", unreachable)
    assert _trigger().hook is first
    assert len(builds) == 1


def test_serialized_form_is_unchanged(fleet):
    trigger = RdsSnapshotAvailableTrigger(
        db_type="cluster", snapshot_id="snap-1", region_name=REGION, waiter_delay=5, waiter_max_attempts=7
    )
    trigger.hook  # noqa: B018 - a built client must not leak into the serialized kwargs
    assert trigger.serialize() == (
        "backstop.airflow.triggers.RdsSnapshotAvailableTrigger",
        {
            "snapshot_id": "snap-1",
            "db_type": "cluster",
            "waiter_delay": 5,
            "waiter_max_attempts": 7,
            "aws_conn_id": "aws_default",
            "region_name": REGION,
            "verify": None,
            "botocore_config": None,
        },
    )
