"""Fixtures of the failure-mode suite: the AWS fault proxy, wired into Airflow's connection."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def aws_faults(local_stack, monkeypatch):
    """An AwsFaultProxy in front of the moto server; `aws_default` now goes through it.

    Only Airflow's connection is re-pointed: the test's own boto3 clients (`rds` fixture) still
    talk to the emulator directly, so they can check the account while the proxy is "down".
    """
    from tests.failure_modes.aws_faults import AwsFaultProxy

    proxy = AwsFaultProxy(local_stack.aws_endpoint_url).start()
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn["extra"]["endpoint_url"] = proxy.url
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    try:
        yield proxy
    finally:
        proxy.stop()
