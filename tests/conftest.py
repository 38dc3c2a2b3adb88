"""Shared fixtures: an isolated Airflow home, the local stack (moto server + Slack recorder).

Airflow reads AIRFLOW_HOME when first imported, so it is set here, before any test module
imports airflow. Each pytest process (each xdist worker) gets its own home and its own stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="backstop-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    }
)
os.environ.pop("BACKSTOP_POLICY_FILE", None)  # tests choose their policy explicitly


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """moto server and Slack recorder as subprocesses; their connections exported to this process."""
    from include.local.stack import LocalStack

    stack = LocalStack(tmp_path_factory.mktemp("stack") / "stack.json", seed=False)
    stack.start()
    saved = dict(os.environ)
    os.environ.update(stack.env())
    try:
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def fleet(local_stack):
    """A freshly reset emulated account holding the seed fleet; returns the seed summary."""
    import urllib.request

    from include.local.fleet import seed_fleet

    request = urllib.request.Request(f"{local_stack.aws_endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return seed_fleet(local_stack.aws_endpoint_url)


@pytest.fixture
def slack(local_stack):
    """The recorder's control client, emptied before the test."""
    from include.local.slack_recorder import RecorderClient

    client = RecorderClient(local_stack.slack_base_url)
    client.reset()
    return client


@pytest.fixture
def rds(local_stack):
    import boto3

    return boto3.client("rds", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated SQLite metadata DB for dag.test() runs (about 10 s, once per process)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        timeout=300,
    )
    return _HOME


@pytest.fixture(autouse=True)
def _no_shared_clients():
    """Every test starts and ends with no process-wide shared AWS client, so botocore handlers a
    test registers on a trigger's client never reach another test."""
    from backstop.aws.hooks import clear_shared_hooks

    clear_shared_hooks()
    yield
    clear_shared_hooks()
