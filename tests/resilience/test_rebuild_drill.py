"""The quarterly rebuild drill: the newest Terraform state backup planned against the code in a
scratch workspace (real terraform CLI), and the DR snapshot restored and verified on the
embedded PostgreSQL (the restore drill's own operators)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.drills.test_restore_drill_monthly import _seed_dr_copy
from tests.tfstate.conftest import TfWorld, requires_terraform

FIRST_SATURDAY_0200_KST = datetime(2026, 10, 2, 17, 0, tzinfo=UTC)  # Sat 2026-10-03 02:00 KST
PREFIX = "quarterly-rebuild"


def _backed_up(world, release: str) -> TfWorld:
    tf = TfWorld(world.endpoint_url)
    tf.apply(release=release, password="not-a-real-password")  # the code's default variables
    tf.backup()
    return tf


def _spec(policy: dict):
    from backstop.policy import parse_policy
    from backstop.policy.resilience_views import rebuild_specs

    return rebuild_specs(parse_policy(policy))[0]


@requires_terraform
def test_a_rebuild_without_drift_restores_verifies_and_cleans_up(
    airflow_db, resilience_world, slack, load_dag, states
):
    from tests.dag_loading import shipped_policy

    _backed_up(resilience_world, "v1")  # the code's default release: no drift
    _seed_dr_copy(resilience_world.drills)
    dag = load_dag("rebuild_drill_quarterly.py", "rebuild_drill_quarterly", shipped_policy())

    dag_run = dag.test(logical_date=FIRST_SATURDAY_0200_KST)

    got = states(dag_run)
    assert dag_run.state == "success", got
    assert set(got.values()) == {"success"}, got
    (report,) = resilience_world.reports().values()
    assert report["kind"] == "rebuild" and report["passed"] is True, report["failures"]
    assert report["state"]["drift"] == [] and report["state"]["serial"] >= 1
    assert report["restore"]["passed"] is True and report["restore"]["instance_id"].endswith(
        "-drill-20261003"
    )
    assert 0 < report["total_seconds"] < report["target_seconds"]
    assert not [i for i in resilience_world.drills.instances("ap-northeast-1") if "-drill-" in i]
    texts = [m["text"] for m in slack.messages()]
    assert any(t.startswith("Rebuild drill quarterly-rebuild PASSED") and "no drift" in t for t in texts), (
        texts
    )


@requires_terraform
def test_a_state_that_no_longer_matches_the_code_is_drift(resilience_world):
    """The state was applied with release v2, the code still says v1: the plan would replace the app."""
    from backstop.resilience import verdict
    from backstop.resilience.rebuild import RebuildStatePlanOperator
    from tests.dag_loading import shipped_policy

    _backed_up(resilience_world, "v2")
    spec = _spec(shipped_policy())
    operator = RebuildStatePlanOperator(task_id="plan_state", spec=spec, region_name=spec.vault_region)

    state = operator.execute({})

    assert {"address": "terraform_data.app", "actions": ["delete", "create"]} in state["drift"], state
    assert "v2" not in str(state) and "not-a-real-password" not in str(state)  # facts only, no values
    judged = verdict.judge_rebuild(
        state=state,
        restore={"passed": True},
        deleted={"deleted": True},
        started_at=datetime(2026, 10, 2, 17, 0, tzinfo=UTC),
        finished_at=datetime(2026, 10, 2, 17, 5, tzinfo=UTC),
        target_seconds=4 * 3600,
    )
    assert judged["passed"] is False
    assert (
        "terraform plan shows drift" in judged["failures"][0]
        and "terraform_data.app" in judged["failures"][0]
    )


@requires_terraform
def test_no_state_backup_fails_the_plan_naming_the_project(resilience_world):
    import pytest
    from airflow.sdk.exceptions import AirflowFailException

    from backstop.resilience.rebuild import RebuildStatePlanOperator
    from tests.dag_loading import shipped_policy

    spec = _spec(shipped_policy())
    operator = RebuildStatePlanOperator(task_id="plan_state", spec=spec, region_name=spec.vault_region)
    with pytest.raises(AirflowFailException, match="triflow-infra"):
        operator.execute({})
