"""Fixtures for the drill tests: the embedded PostgreSQL (local data plane) next to moto.

`pg_plane` (session): one embedded PostgreSQL server with the demo source database.
`drill_world` (per test, after `fleet` reset moto): the master role gets the password of
the fleet's Secrets Manager secret (so the drill really reads its credentials from there),
the source rows and heartbeat are re-seeded, stale clones are dropped, and
BACKSTOP_LOCAL_DATAPLANE is set for the test.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg_plane():
    from include.local.dataplane import LocalDataPlane

    plane = LocalDataPlane().start()
    plane.seed_source()
    try:
        yield plane
    finally:
        plane.destroy()


@dataclass
class DrillWorld:
    plane: Any
    endpoint_url: str
    fleet: dict

    def client(self, service: str, region: str = "ap-northeast-2") -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def instances(self, region: str = "ap-northeast-2") -> dict[str, dict]:
        items = self.client("rds", region).describe_db_instances()["DBInstances"]
        return {i["DBInstanceIdentifier"]: i for i in items}

    def reports(self, prefix: str = "reports/drills/") -> dict[str, dict]:
        s3 = self.client("s3")
        listed = s3.list_objects_v2(Bucket="triflow-backstop-reports", Prefix=prefix).get("Contents", [])
        return {
            o["Key"]: json.loads(
                s3.get_object(Bucket="triflow-backstop-reports", Key=o["Key"])["Body"].read()
            )
            for o in listed
        }

    def clones(self) -> list[str]:
        return [d for d in self.plane.databases() if d.startswith("rds_")]


def prepare_data_plane(plane: Any, endpoint_url: str, monkeypatch: Any) -> None:
    """Ready the embedded PostgreSQL for a drill: the master role gets the password of the fleet's
    Secrets Manager secret (so the drill really reads its credentials from there), the source rows
    and heartbeat are re-seeded, clones and before-restore schemas of earlier tests dropped, and
    BACKSTOP_LOCAL_DATAPLANE set. Shared with the browser tests (tests/browser/conftest.py)."""
    from include.local.dataplane import ENV_VAR, master_credentials
    from include.local.fleet import DB_MASTER_SECRET

    creds = master_credentials(endpoint_url, DB_MASTER_SECRET)
    plane.seed_source()
    plane.ensure_role(creds["username"], creds["password"])
    with plane.connect() as conn:
        for name in [d for d in plane.databases() if d.startswith("rds_")]:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with plane.connect("triflow") as conn:
        for (schema,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'backstop_before_restore_%'"
        ).fetchall():
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    monkeypatch.setenv(ENV_VAR, json.dumps(plane.config()))


@pytest.fixture
def drill_world(fleet, local_stack, pg_plane, monkeypatch) -> DrillWorld:
    prepare_data_plane(pg_plane, local_stack.aws_endpoint_url, monkeypatch)
    return DrillWorld(pg_plane, local_stack.aws_endpoint_url, fleet)


def drill_policy(drills: list[str] | None = None, **drill_changes: Any) -> dict:
    """The shipped policy with fast retries, only the named drills, each changed as given."""
    from backstop.policy import DEFAULT_POLICY_PATH

    policy = copy.deepcopy(yaml.safe_load(DEFAULT_POLICY_PATH.read_text()))
    policy["defaults"]["retries"] = {"count": 2, "delay": "1s", "max_delay": "2s"}
    if drills is not None:
        policy["drills"] = [d for d in policy["drills"] if d["name"] in drills]
    for drill in policy["drills"]:
        drill.update(copy.deepcopy(drill_changes))
    return policy


@pytest.fixture
def load_dag(tmp_path, monkeypatch):
    """`load_dag(file_name, dag_id, policy)`: tests.dag_loading.load_dag bound to this test."""
    from tests.dag_loading import load_dag as load

    return lambda file_name, dag_id, policy: load(file_name, dag_id, policy, tmp_path, monkeypatch)


@pytest.fixture
def policy_for():
    return drill_policy


@pytest.fixture
def states():
    from tests.dag_loading import task_states

    return task_states
