"""The trigger forms (DAG Params): what the UI shows and what it refuses before a run exists.

Validation here is Airflow's own: `ParamsDict.validate()` with jsonschema's format checker, the
same check the API runs when a run is triggered with a conf (and the UI's form is built from
the same schema). Nothing is patched.
"""

from __future__ import annotations

import copy

import pytest
from airflow.sdk.exceptions import ParamValidationError

from tests.dag_loading import load_dag, shipped_policy

MANUAL = {
    "restore_point_in_time.py": "restore_point_in_time",
    "terraform_state_restore.py": "terraform_state_restore",
    "retention_prune.py": "retention_prune",
    "terraform_state_backup.py": "terraform_state_backup",
}
SCHEDULED = {
    "rds_snapshot.py": "rds_weekly_snapshot",
    "retention_prune.py": "retention_prune",
    "terraform_state_backup.py": "terraform_state_backup",
    "restore_drill_monthly.py": "restore_drill_monthly",
    "drill_orphan_sweeper.py": "drill_orphan_sweeper",
}


@pytest.fixture
def dag_of(tmp_path, monkeypatch):
    return lambda file_name, dag_id: load_dag(file_name, dag_id, shipped_policy(), tmp_path, monkeypatch)


def _validate(dag, conf: dict) -> dict:
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return params.validate()


@pytest.fixture
def restore_dag(dag_of):
    return dag_of("restore_point_in_time.py", "restore_point_in_time")


@pytest.mark.parametrize(
    "conf",
    [
        {"restore_time": "yesterday"},
        {"restore_time": "2026-11-22 01:30"},  # no zone, no seconds: ambiguous
        {"restore_time": "2026-13-40T01:30:00Z"},  # shaped right, not a date
        {"target_instance_id": "triflow_prod"},  # not an RDS id, and without -restore-
        {"target_instance_id": "triflow-ai-production-db"},  # would be the source's own name
        {"instance_class": "large"},
        {"checks": ["no-such-check"]},
        {"tables": ["core.not_offered"]},  # the policy lists what may be copied back
        {"tables": ["core.workflows", "core.workflows"]},
        {"source": "some-other-db"},
    ],
)
def test_the_restore_form_refuses_a_bad_value_before_a_run_exists(restore_dag, conf):
    key = next(iter(conf))
    with pytest.raises(ParamValidationError, match=f"param {key}"):
        _validate(restore_dag, conf)


def test_the_restore_form_takes_its_defaults_and_good_values(restore_dag):
    assert _validate(restore_dag, {})["restore_time"] is None  # empty = the latest restorable time
    good = {
        "restore_time": "2026-11-22T10:30:00+09:00",
        "target_instance_id": "triflow-prod-restore-1",
        "checks": ["workflows-present"],
        "tables": ["core.workflows"],
    }
    assert _validate(restore_dag, good)["tables"] == ["core.workflows"]
    schema = {k: restore_dag.params.get_param(k).schema for k in restore_dag.params}
    assert schema["restore_time"]["format"] == "date-time"
    assert schema["checks"]["items"]["enum"] == ["heartbeat-fresh", "workflows-present"]  # a multi-select
    assert schema["tables"]["items"]["enum"] == ["core.workflow_runs", "core.workflows"]


@pytest.mark.parametrize("file_name", sorted(MANUAL))
def test_every_param_has_a_title_and_a_description_and_optional_ones_no_required_star(dag_of, file_name):
    dag = dag_of(file_name, MANUAL[file_name])
    for key in dag.params:
        param = dag.params.get_param(key)
        assert param.schema.get("title") and param.description, key
        if param.value is None:  # optional: the UI marks a field required unless null is allowed
            assert "null" in param.schema["type"], key


def test_terraform_state_restore_can_be_triggered_with_its_defaults(dag_of):
    dag = dag_of("terraform_state_restore.py", "terraform_state_restore")
    values = _validate(dag, {})
    assert values["local_path"] is None and values["destination"] == "local_path"
    with pytest.raises(ParamValidationError, match="param date"):
        _validate(dag, {"date": "last tuesday"})


@pytest.mark.parametrize("file_name", sorted(SCHEDULED))
def test_scheduled_dags_name_their_time_zone(dag_of, file_name):
    dag = dag_of(file_name, SCHEDULED[file_name])
    assert "Asia/Seoul time" in dag.description


def test_the_copy_dag_is_active_when_created_and_the_snapshot_dag_is_not(dag_of):
    assert dag_of("rds_cross_region_copy.py", "rds_cross_region_copy").is_paused_upon_creation is False
    assert dag_of("rds_snapshot.py", "rds_weekly_snapshot").is_paused_upon_creation is not False
