"""Fixtures for the resilience drills: the drill world (moto + embedded PostgreSQL + Slack
recorder) plus the staging Multi-AZ database on the data plane and the emulated control plane
(include/local/emulation.py) told where that data plane is, with short timings."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from tests.drills.conftest import drill_world, load_dag, pg_plane, states  # noqa: F401  (fixtures)

STAGING_HA_DB = "triflow-ai-staging-ha-db"
FIRST_SUNDAY_0300_KST = "2026-11-07T18:00:00+00:00"  # Sun 2026-11-08 03:00 KST


@dataclass
class ResilienceWorld:
    drills: Any  # tests.drills.conftest.DrillWorld
    endpoint_url: str

    def client(self, service: str, region: str = "ap-northeast-2") -> Any:
        return self.drills.client(service, region)

    def emulate(self, **settings: Any) -> dict:
        from include.local.emulation import configure

        return configure(self.endpoint_url, **settings)

    def instance(self, identifier: str = STAGING_HA_DB) -> dict:
        return self.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]

    def failover_events(self, identifier: str) -> list[str]:
        events = self.client("rds").describe_events(SourceIdentifier=identifier, SourceType="db-instance")
        return [e["Message"] for e in events["Events"] if "failover" in e["Message"].lower()]

    def reports(self) -> dict[str, dict]:
        return self.drills.reports("reports/resilience/")


@pytest.fixture
def resilience_world(drill_world, local_stack) -> ResilienceWorld:  # noqa: F811
    from include.local.resilience_fleet import seed_dataplane

    seed_dataplane(drill_world.plane, local_stack.aws_endpoint_url)
    world = ResilienceWorld(drill_world, local_stack.aws_endpoint_url)
    world.emulate(
        dataplane_admin_dsn=drill_world.plane.admin_dsn,
        failover_seconds=3,
        outage_seconds=2,
        replace_after_seconds=2,
    )
    return world


def resilience_policy(*, failover: bool = True, task_loss: bool = True, **changes: Any) -> dict:
    """The shipped policy with fast retries, the chosen drills, fast timeouts, each drill changed as given."""
    from tests.dag_loading import shipped_policy

    policy = shipped_policy({"count": 0, "delay": "1s", "max_delay": "2s"})
    section = policy["resilience"]
    section["failover"] = section["failover"] if failover else []
    section["task_loss"] = section["task_loss"] if task_loss else []
    for drill in section["failover"]:
        drill.update({"timeout": "30s", **copy.deepcopy(changes.get("failover_changes", {}))})
    for drill in section["task_loss"]:
        drill.update(
            {"timeout": "12s", "poll_interval": "1s", **copy.deepcopy(changes.get("task_loss_changes", {}))}
        )
    return policy


@pytest.fixture
def policy_with():
    return resilience_policy
