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
from airflow.sdk.exceptions import AirflowFailException

from backstop.retention.operators import resolve_dry_run


@pytest.mark.parametrize("run_type", [DagRunType.SCHEDULED, "scheduled"])
def test_a_scheduled_run_deletes(run_type):
    assert resolve_dry_run({"params": {}, "dag_run": SimpleNamespace(run_type=run_type)}) is False


@pytest.mark.parametrize("run_type", [DagRunType.MANUAL, DagRunType.ASSET_TRIGGERED, "manual"])
def test_any_other_run_deletes_only_with_dry_run_off_and_delete_typed(run_type):
    def resolve(**params):
        return resolve_dry_run({"params": params, "dag_run": SimpleNamespace(run_type=run_type)})

    assert resolve() is True  # the form's default
    assert resolve(dry_run=True, confirm_delete="DELETE") is True
    with pytest.raises(AirflowFailException, match="confirm_delete"):
        resolve(dry_run=False, confirm_delete="")
    assert resolve(dry_run=False, confirm_delete="DELETE") is False


def test_a_scheduled_run_follows_the_policy_whatever_the_forms_default():
    """The form's dry_run default (true) reaches scheduled runs too; they still delete."""
    context = {"params": {"dry_run": True}, "dag_run": SimpleNamespace(run_type=DagRunType.SCHEDULED)}
    assert resolve_dry_run(context) is False
