"""The weekly chain through the production topology: CeleryExecutor, PostgreSQL, Redis, separate processes.

Not `dags test`: the real scheduler schedules, Celery (Redis broker) carries the tasks to two
worker processes, the triggerer resumes the deferred waits, the dag-processor parses, the
api-server serves the REST API the run is triggered and watched through. moto sits behind the
"creating" proxy, so each new snapshot and copy really is `creating` for a while and the
tasks really defer. All three runs are made by the scheduler (schedule, asset, schedule). Runs in `make test-scaleout` (about 3 minutes; .ci/run runs it too).
"""

from __future__ import annotations

import boto3
import pytest

from include.local.celery_topology import CeleryTopology
from include.local.creating_proxy import CreatingProxy
from include.local.stack import LocalStack

pytestmark = pytest.mark.scaleout

CHAIN = ("rds_weekly_snapshot", "rds_cross_region_copy", "retention_prune")
DR_REGION = "ap-northeast-1"


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    base = tmp_path_factory.mktemp("celery")
    with LocalStack(base / "stack" / "stack.json", seed=True) as stack:
        with CreatingProxy(stack.aws_endpoint_url, creating_seconds=10, log_dir=base / "proxy") as proxy:
            with CeleryTopology(
                base / "topo",
                stack_state=stack.state,
                aws_endpoint_url=proxy.url,
                workers=2,
                worker_concurrency=2,
            ) as topo:
                topo.wait_for_dags(CHAIN)  # parsed, and paused (as at creation in production)
                yield stack, proxy, topo


class Sampler:
    """What the metadata DB shows while a run goes on: deferred tasks and triggers held by a triggerer."""

    def __init__(self, topo: CeleryTopology) -> None:
        self.topo = topo
        self.max_deferred = 0
        self.max_triggers_in_triggerer = 0
        self.workers_seen: set[str] = set()

    def __call__(self) -> None:
        deferred = self.topo.sql("SELECT count(*) FROM task_instance WHERE state = 'deferred'")[0][0]
        held = self.topo.sql("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")[0][0]
        self.max_deferred = max(self.max_deferred, deferred)
        self.max_triggers_in_triggerer = max(self.max_triggers_in_triggerer, held)
        for (queued_by,) in self.topo.sql(
            "SELECT DISTINCT hostname FROM task_instance WHERE state = 'running' AND hostname <> ''"
        ):
            self.workers_seen.add(queued_by)


def _managed_snapshots(stack, region: str) -> set[str]:
    rds = boto3.client(
        "rds",
        region_name=region,
        endpoint_url=stack.aws_endpoint_url,  # moto itself, not the proxy
        aws_access_key_id="testing",  # the emulator's dummy keys
        aws_secret_access_key="testing",
    )
    names = set()
    for snap in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        if {"Key": "backstop:managed", "Value": "true"} in snap["TagList"]:
            names.add(snap["DBSnapshotIdentifier"])
    for snap in rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]:
        if {"Key": "backstop:managed", "Value": "true"} in snap["TagList"]:
            names.add(snap["DBClusterSnapshotIdentifier"])
    return names


def test_the_weekly_chain_runs_on_celery_with_deferred_waits_resumed_by_the_triggerer(topology):
    stack, proxy, topo = topology
    assert set(topo.procs) >= {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "worker-1",
        "worker-2",
    }
    assert topo.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert topo.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert topo.env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    for n in (1, 2):  # the workers imported Backstop before forking (backstop/airflow/worker_warmup.py)
        assert "worker warm-up: could not import" not in (topo.log_dir / f"worker-{n}.log").read_text()
    sampler = Sampler(topo)

    # 1. Unpaused, the weekly DAG gets its latest Sunday 03:00 KST run from the scheduler itself.
    topo.unpause("rds_weekly_snapshot")
    topo.unpause("rds_cross_region_copy")
    run_id = topo.wait_for_first_run("rds_weekly_snapshot", timeout=180, poll=sampler)
    assert run_id.startswith("scheduled__"), run_id
    run = topo.wait_for_run("rds_weekly_snapshot", run_id, timeout=420, poll=sampler)
    tis = topo.task_instances("rds_weekly_snapshot", run_id)
    states = {(ti["task_id"], ti["rendered_map_index"] or ti["map_index"]): ti["state"] for ti in tis}
    assert run["state"] == "success", states
    snapshot_tis = [ti for ti in tis if ti["task_id"] == "snapshot"]
    assert len(snapshot_tis) == 3, states  # two instances by id, one Aurora cluster by tag
    assert all(ti["state"] == "success" for ti in snapshot_tis), states
    # Each waited deferred: the trigger ran in the triggerer (not a worker), verified the snapshot
    # and ended the task there (TaskSuccessEvent), so it never went back to a worker.
    assert sampler.max_deferred >= 1
    assert sampler.max_triggers_in_triggerer >= 1
    assert proxy.stats()["rewritten"] >= 3
    for ti in snapshot_tis:
        log = topo.api(
            "GET",
            f"/api/v2/dags/rds_weekly_snapshot/dagRuns/{run_id}/taskInstances/snapshot/logs/1"
            f"?map_index={ti['map_index']}&full_content=true",
        )
        text = str(log)
        assert "Deferring" in text, text[-2000:]
        assert "Verified" in text, text[-2000:]
        assert "the task ends here" in text, text[-2000:]
    made = _managed_snapshots(stack, "ap-northeast-2")
    assert len(made) == 3

    # 2. The copy DAG, started by the scheduler from the asset event of `announce`.
    copy_run_id = topo.wait_for_first_run("rds_cross_region_copy", timeout=180, poll=sampler)
    copy_run = topo.wait_for_run("rds_cross_region_copy", copy_run_id, timeout=420, poll=sampler)
    copy_tis = topo.task_instances("rds_cross_region_copy", copy_run_id)
    copy_states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in copy_tis}
    assert copy_run["state"] == "success", copy_states
    assert copy_run["run_type"] == "asset_triggered", copy_run
    assert len([ti for ti in copy_tis if ti["task_id"] == f"copy_to_{DR_REGION}"]) == 2, copy_states
    copies = _managed_snapshots(stack, DR_REGION)
    assert len(copies) == 2

    # 3. Retention, unpaused only now: its latest scheduled run (a real, deleting run) plans over
    # what was just made and keeps all of it (fresh, and min_keep).
    topo.unpause("retention_prune")
    prune_id = topo.wait_for_first_run("retention_prune", timeout=180, poll=sampler)
    prune = topo.wait_for_run("retention_prune", prune_id, timeout=300, poll=sampler)
    prune_states = {ti["task_id"]: ti["state"] for ti in topo.task_instances("retention_prune", prune_id)}
    assert prune["state"] == "success", prune_states
    # skip_missed_slot: the on-time gate (a late slot would be skipped); this run is on time
    assert prune_states == {
        "skip_missed_slot": "success",
        "plan_retention": "success",
        "apply_retention": "success",
    }
    plan = topo.api(
        "GET",
        f"/api/v2/dags/retention_prune/dagRuns/{prune_id}/taskInstances/plan_retention/xcomEntries/return_value",
    )["value"]
    assert plan["dry_run"] is False, plan  # a scheduled run deletes (it was a dry run before the fix)
    assert _managed_snapshots(stack, "ap-northeast-2") == made
    assert _managed_snapshots(stack, DR_REGION) == copies
