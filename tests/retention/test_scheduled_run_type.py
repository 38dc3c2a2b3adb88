"""A scheduled retention run deletes, whichever form the run type takes.

On a real worker the task context's `dag_run.run_type` is the Task SDK's `DagRunType`, a
(str, Enum) whose str() is "DagRunType.SCHEDULED". Checking str(run_type) made every scheduled
run a dry run under the CeleryExecutor (found by tests/deploy/test_celery_scaleout.py), while
`dag.test()` runs, which are manual, never showed it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from backstop.retention.operators import resolve_dry_run


@pytest.mark.parametrize("run_type", [DagRunType.SCHEDULED, "scheduled"])
def test_a_scheduled_run_deletes(run_type):
    assert resolve_dry_run({"params": {}, "dag_run": SimpleNamespace(run_type=run_type)}) is False


@pytest.mark.parametrize("run_type", [DagRunType.MANUAL, DagRunType.ASSET_TRIGGERED, "manual"])
def test_any_other_run_plans_only_without_the_typed_confirmation(run_type):
    context = {"params": {"confirm_delete": ""}, "dag_run": SimpleNamespace(run_type=run_type)}
    assert resolve_dry_run(context) is True
    context["params"]["confirm_delete"] = "DELETE"
    assert resolve_dry_run(context) is False


def test_dry_run_forces_a_dry_run_on_the_schedule_too():
    context = {"params": {"dry_run": True}, "dag_run": SimpleNamespace(run_type=DagRunType.SCHEDULED)}
    assert resolve_dry_run(context) is True
