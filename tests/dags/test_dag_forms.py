"""The trigger forms (DAG Params): what the UI shows and what it refuses before a run exists.

Validation here is Airflow's own: `ParamsDict.validate()` with jsonschema's format checker, the
same check the API runs when a run is triggered with a conf (and the UI's form is built from
the same schema). Nothing is patched.
"""

from __future__ import annotations

import copy

import pytest
from airflow.sdk.exceptions import ParamValidationError

from tests.dag_loading import ROOT, load_dag, shipped_policy

DAG_FILES = sorted(p.name for p in (ROOT / "dags").glob("*.py"))


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


def _all_dags(file_name: str, tmp_path, monkeypatch) -> dict:
    """Every DAG a file defines under the shipped policy (a file may define several, or none)."""
    import yaml

    from include.local.dag_files import import_dags

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(shipped_policy()))
    monkeypatch.setenv("BACKSTOP_POLICY_FILE", str(policy_file))
    return import_dags(ROOT / "dags" / file_name)


@pytest.mark.parametrize("file_name", DAG_FILES)
def test_every_param_has_a_title_and_a_description_and_optional_ones_no_required_star(
    file_name, tmp_path, monkeypatch
):
    for dag in _all_dags(file_name, tmp_path, monkeypatch).values():
        for key in dag.params:
            param = dag.params.get_param(key)
            assert param.schema.get("title") and param.description, (dag.dag_id, key)
            if param.value is None:  # optional: the UI marks a field required unless null is allowed
                assert "null" in param.schema["type"], (dag.dag_id, key)


@pytest.mark.parametrize("file_name", DAG_FILES)
def test_scheduled_dags_name_their_time_zone(file_name, tmp_path, monkeypatch):
    dags = _all_dags(file_name, tmp_path, monkeypatch)
    assert dags, f"{file_name} defines no DAG under the shipped policy"
    for dag in dags.values():
        if getattr(dag.timetable, "_expression", None) or getattr(dag.timetable, "expression", None):
            assert "Asia/Seoul time" in (dag.description or ""), (dag.dag_id, dag.description)


def test_terraform_state_restore_can_be_triggered_with_its_defaults(dag_of):
    dag = dag_of("terraform_state_restore.py", "terraform_state_restore")
    values = _validate(dag, {})
    assert values["local_path"] is None and values["destination"] == "local_path"
    with pytest.raises(ParamValidationError, match="param date"):
        _validate(dag, {"date": "last tuesday"})


def test_the_copy_dag_is_active_when_created_and_the_snapshot_dag_is_not(dag_of):
    assert dag_of("rds_cross_region_copy.py", "rds_cross_region_copy").is_paused_upon_creation is False
    assert dag_of("rds_snapshot.py", "rds_weekly_snapshot").is_paused_upon_creation is not False
