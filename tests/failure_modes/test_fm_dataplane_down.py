"""Failure mode: the database server goes away in the middle of a restore drill.

Injected for real: the drill's own embedded PostgreSQL (the local data plane, a server of this
test's) is stopped once the restored instance is available, right before `verify` connects, and
started again for the re-run. On AWS the same thing is a restored instance that stops answering.

Promises: the run fails loudly at `verify` naming the unreachable database; exactly one failure
alert (plus the drill's summary, which says FAILED); the teardown still succeeds because the
instance is gone, and the report says so (`deleted` recorded, not null); the source is untouched;
a re-run with the server back passes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.dag_loading import task_states
from tests.drills.conftest import DrillWorld, drill_policy, prepare_data_plane

FIRST_SUNDAY_0300_KST = datetime(2026, 11, 7, 18, 0, tzinfo=UTC)
SOURCE = "triflow-ai-production-db"
TASKS = "production-pitr"


@pytest.fixture
def own_plane(fleet, local_stack, monkeypatch, tmp_path_factory):
    """A data plane of this test's alone: stopping it cannot hurt another test's drills."""
    from include.local.dataplane import LocalDataPlane

    plane = LocalDataPlane().start()
    try:
        prepare_data_plane(plane, local_stack.aws_endpoint_url, monkeypatch)
        yield DrillWorld(plane, local_stack.aws_endpoint_url, fleet)
    finally:
        plane.destroy()


def _stop_before_verify(task, plane) -> list[str]:
    """Stop the server when `verify` first asks RDS where the restored instance is."""
    stopped: list[str] = []

    def handler(**_):
        if not stopped:
            plane.stop()
            stopped.append("stopped")

    task.client("ap-northeast-2").meta.events.register("before-send.rds.DescribeDBInstances", handler)
    return stopped


def test_data_plane_down_mid_drill_fails_once_cleans_up_and_a_rerun_passes(
    airflow_db, own_plane, slack, tmp_path, monkeypatch
):
    from tests.dag_loading import load_dag

    world = own_plane
    policy = drill_policy(["production-pitr"])
    policy["defaults"]["retries"] = {"count": 0}
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy, tmp_path, monkeypatch)
    stopped = _stop_before_verify(dag.get_task(f"{TASKS}.verify"), world.plane)
    snapshots_before = world.client("rds").describe_db_snapshots()["DBSnapshots"]

    run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    states = task_states(run)
    assert stopped and run.state == "failed", states
    assert states[f"{TASKS}.verify"] == "failed", states
    assert states[f"{TASKS}.delete_instance"] == "success", states  # the instance is gone: done
    assert states[f"{TASKS}.report"] == "success", states
    assert not [i for i in world.instances() if "-drill-" in i]
    assert world.client("rds").describe_db_snapshots()["DBSnapshots"] == snapshots_before
    (report,) = world.reports().values()
    assert report["passed"] is False and report["failed_step"] == f"{TASKS}.verify", report
    assert report["deleted"] and report["deleted"]["instance_id"], report
    messages = slack.messages()
    alerts = [m for m in messages if m["text"].startswith("Backstop task failed")]
    summaries = [m for m in messages if m["text"].startswith("Restore drill")]
    assert len(alerts) == 1 and len(summaries) == 1, [m["text"] for m in messages]
    assert "verify" in str(alerts[0]["blocks"]), alerts[0]

    world.plane.start()  # the server is back (new port: the local config follows it)
    monkeypatch.setenv("BACKSTOP_LOCAL_DATAPLANE", json.dumps(world.plane.config()))
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy, tmp_path, monkeypatch)
    rerun = dag.test(logical_date=FIRST_SUNDAY_0300_KST.replace(day=8))

    assert rerun.state == "success", task_states(rerun)
    assert world.plane.sql("SELECT COUNT(*) FROM core.workflows")[0][0] > 0  # source untouched
