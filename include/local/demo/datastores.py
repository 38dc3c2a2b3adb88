"""Demo scenarios for ElastiCache (daily snapshot, restore drill) and S3 (prefix restore, dry run).

The ElastiCache export uses CopySnapshot, which the local stack emulates (moto lacks it:
include/local/moto_emulation.py). The S3 scenario is the dry-run listing of scenario 5 (the
demo does not answer approvals; tests/s3backup/test_s3_restore_prefix_dag.py approves one).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from include.local.demo.scenario import Lines, RunResult, Scenario, World, as_dict
from include.local.fleet_datastores import FILES_BUCKET, REDIS_GROUP

RESTORE_CONF: dict[str, object] = {"bucket": FILES_BUCKET, "prefix": "uploads/workflows/", "dry_run": True}


def summarize_snapshot(world: World, result: RunResult) -> Lines:
    lines = []
    for row in result.tasks:
        x = as_dict(row.xcom)
        if row.task_id.startswith("snapshot_"):
            how = "adopted" if x.get("adopted") else "created"
            lines.append(f"{row.task_id:34} {row.state:8} {x.get('snapshot_name', '-')}  {how}")
        elif row.task_id.startswith("export_"):
            lines.append(
                f"{row.task_id:34} {row.state:8} {len(x.get('exported', []))} .rdb file(s), "
                f"{len(x.get('dr_copies', []))} copied to the DR region"
            )
        elif row.task_id.startswith("prune_"):
            lines.append(
                f"{row.task_id:34} {row.state:8} {'dry run' if x.get('dry_run') else 'real run'}: "
                f"{x.get('counts', {}).get('keep', '-')} keep, {len(x.get('planned_deletions', []))} delete"
            )
        else:
            lines.append(
                f"{row.task_id:34} {row.state:8} {'; '.join(x.get('problems', [])) or 'as the policy says'}"
            )
    return lines


def check_snapshot(world: World, result: RunResult) -> Lines:
    names = [s["SnapshotName"] for s in world.client("elasticache").describe_snapshots()["Snapshots"]]
    return (
        [] if any(n.startswith(f"{REDIS_GROUP}-daily-") for n in names) else [f"no daily snapshot in {names}"]
    )


def summarize_drill(world: World, result: RunResult) -> Lines:
    verify = as_dict(next((r.xcom for r in result.tasks if r.task_id == "verify"), None))
    report = as_dict(next((r.xcom for r in result.tasks if r.task_id == "report"), None))
    checks = ", ".join(f"{c['name']}={c['observed']}" for c in verify.get("checks", []))
    return [
        f"group {verify.get('group_id', '-')} from {verify.get('snapshot_name', '-')}: {checks}",
        f"RTO {verify.get('rto_seconds', '-')} s; teardown {report.get('teardown', '-')}; report {report.get('report', '-')}",
    ]


def check_drill(world: World, result: RunResult) -> Lines:
    report = as_dict(next((r.xcom for r in result.tasks if r.task_id == "report"), None))
    return (
        []
        if report.get("passed") and report.get("teardown") in ("deleted", "deleting")
        else [f"report {report}"]
    )


def incident(world: World) -> Lines:
    """Scenario 5: a point in time, then a deleted and an overwritten object under uploads/workflows/."""
    s3 = world.client("s3")
    time.sleep(1.1)  # S3 times have one-second resolution
    RESTORE_CONF["point_in_time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)
    s3.delete_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-001.json")
    s3.put_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-002.json", Body=b"corrupted by a bad deploy")
    return [
        f"point_in_time {RESTORE_CONF['point_in_time']}; then wf-001.json deleted, wf-002.json overwritten "
        f"in s3://{FILES_BUCKET}/uploads/workflows/"
    ]


def summarize_restore(world: World, result: RunResult) -> Lines:
    plan = as_dict(next((r.xcom for r in result.tasks if r.task_id == "plan"), None))
    lines = [f"counts {plan.get('counts')}; listing {plan.get('listing')}"]
    lines += [f"  restore {r['key']} <- version {r['version_id'][:12]}.." for r in plan.get("restores", [])]
    return lines


def check_restore(world: World, result: RunResult) -> Lines:
    plan = as_dict(next((r.xcom for r in result.tasks if r.task_id == "plan"), None))
    keys = sorted(r["key"] for r in plan.get("restores", []))
    want = ["uploads/workflows/wf-001.json", "uploads/workflows/wf-002.json"]
    return [] if keys == want else [f"expected restores {want}, got {keys}"]


SCENARIOS = [
    Scenario(
        title="elasticache_daily_snapshot: the 02:00 KST run",
        dag_file="elasticache_snapshot.py",
        dag_id="elasticache_daily_snapshot",
        expect_state="success",
        schedule="daily",
        explain="Posture of the automatic snapshots (5 days, 17:00-18:00 UTC), a managed snapshot of "
        "triflow-ai-redis, its export to S3 and copy to Tokyo, and the retention plan (a manual run: dry run).",
        summarize=summarize_snapshot,
        checks=check_snapshot,
    ),
    Scenario(
        title="elasticache restore drill: a replication group from the newest snapshot",
        dag_file="elasticache_restore_drill.py",
        dag_id="elasticache_drill_triflow_redis_daily",
        expect_state="success",
        schedule="monthly-drill",
        explain="Creates triflow-ai-redis-drill-<date> from the snapshot above, waits, checks it "
        "(available, tags, 2 shards, endpoint, RTO), deletes it and writes the report.",
        summarize=summarize_drill,
        checks=check_drill,
    ),
    Scenario(
        title="s3_restore_prefix (dry run): scenario 5, what would come back",
        dag_file="s3_restore_prefix.py",
        dag_id="s3_restore_prefix",
        expect_state="success",
        schedule="daily",
        conf=RESTORE_CONF,
        explain="After a delete and an overwrite, the dry-run listing names exactly the two objects to "
        "restore from their versions; with dry_run off, an approval in the UI comes before any write.",
        before=incident,
        summarize=summarize_restore,
        checks=check_restore,
    ),
]
