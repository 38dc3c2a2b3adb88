"""What a demo scenario is, and what its hooks see.

A scenario is data: the DAG (id and the dags/ file that defines it), the run's logical date
(the last fire time of a policy schedule), conf, an optional change to the shipped policy,
the state the run must end in, and three hooks:

- ``before(world)``: prepares the emulated account (returns lines to print);
- ``summarize(world, result)``: lines describing what the run did;
- ``checks(world, result)``: problems (empty when the scenario did what it should).

Hooks get a ``World`` (the running local stack, seen from outside Airflow) and a
``RunResult`` (the run as read from the metadata DB). This module imports nothing else from
the demo, so scenario modules and the harness can both import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from include.local.demo.runner import TaskRow

PRIMARY_REGION = "ap-northeast-2"


@dataclass(frozen=True)
class World:
    """The local stack as the scenario hooks use it: the AWS emulator and the data plane."""

    aws_endpoint_url: str
    dataplane: Any = None  # include.local.dataplane.LocalDataPlane

    def client(self, service: str, region: str = PRIMARY_REGION) -> Any:
        """A boto3 client on the emulator (dummy keys: it can never reach a real account)."""
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.aws_endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@dataclass
class RunResult:
    """One scenario's DAG run: state, task instances with their return values, Slack messages."""

    run_id: str
    state: str
    seconds: float
    tasks: list[TaskRow]
    slack: list[dict[str, Any]]
    log: Path

    def rows(self, task_id: str) -> list[TaskRow]:
        """The task instances of one task, by map index."""
        return sorted((r for r in self.tasks if r.task_id == task_id), key=lambda r: r.map_index)


Lines = list[str]


@dataclass(frozen=True)
class Scenario:
    title: str
    dag_file: str  # the file under dags/ that defines dag_id
    dag_id: str
    expect_state: str  # "success" or "failed"
    explain: str
    # The policy schedule whose last fire time is the run's logical date.
    schedule: str = "weekly"
    # dag.test(run_conf=...): the run's params
    conf: dict[str, Any] | None = None
    # Changes a copy of the shipped policy for this run (written to .local/demo/policy-N.yaml).
    policy_change: Callable[[dict], None] | None = None
    before: Callable[[World], Lines] | None = None
    summarize: Callable[[World, RunResult], Lines] | None = None
    checks: Callable[[World, RunResult], Lines] | None = None


def as_dict(value: Any) -> dict[str, Any]:
    """A task's return value when it is a mapping, else {} (failed tasks return nothing)."""
    return value if isinstance(value, dict) else {}
