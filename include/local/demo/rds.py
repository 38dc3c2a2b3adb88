"""Demo scenarios for the RDS pipelines: rds_weekly_snapshot, rds_cross_region_copy, retention_prune."""

from __future__ import annotations

import json
from collections.abc import Callable

from include.local.demo.scenario import Lines, RunResult, Scenario, World, as_dict

MANAGED = {"Key": "backstop:managed", "Value": "true"}
DR_REGION = "ap-northeast-1"


def summarize_snapshots(world: World, result: RunResult) -> Lines:
    lines = [f"{'resource':28} {'snapshot':44} {'state':8} {'how':8} {'took':>6}"]
    for row in result.rows("snapshot"):
        xcom = as_dict(row.xcom)
        how = "adopted" if xcom.get("adopted") else ("created" if xcom else "-")
        wait = f"{xcom['duration_seconds']:.2f}s" if xcom.get("duration_seconds") is not None else "-"
        lines.append(
            f"{row.label or '?':28} {xcom.get('snapshot_id', '-'):44} {row.state:8} {how:8} {wait:>6}"
        )
    client = world.client("rds")
    managed = []
    for page in client.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
        managed += [s for s in page["DBSnapshots"] if MANAGED in s["TagList"]]
    clusters = client.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    managed_clusters = [s for s in clusters if MANAGED in s.get("TagList", [])]
    lines.append(
        f"managed snapshots now in ap-northeast-2: {len(managed)} instance, {len(managed_clusters)} cluster "
        f"({', '.join(sorted(s['DBSnapshotIdentifier'] for s in managed))})"
    )
    return lines


def expect_snapshot_states(expected: dict[str, str]) -> Callable[[World, RunResult], Lines]:
    def check(world: World, result: RunResult) -> Lines:
        got = {r.label: r.state for r in result.rows("snapshot")}
        problems = [f"{k}: expected {v}, got {got.get(k)}" for k, v in expected.items() if got.get(k) != v]
        failed = [k for k, v in expected.items() if v == "failed"]
        if len(result.slack) != len(failed):
            problems.append(f"expected {len(failed)} Slack alert(s), recorder got {len(result.slack)}")
        return problems

    return check


def add_ghost_database(policy: dict) -> None:
    policy["rds_snapshots"][0]["resources"].append({"type": "rds_instance", "id": "triflow-ai-ghost-db"})
    policy["defaults"]["retries"] = {"count": 0}


ALL_OK = {
    "triflow-ai-production-db": "success",
    "triflow-ai-staging-db": "success",
    "triflow-ai-analytics": "success",
}


def summarize_copies(world: World, result: RunResult) -> Lines:
    lines = []
    for row in sorted(result.tasks, key=lambda r: (r.task_id, r.map_index)):
        if row.task_id.startswith("copy_to_"):
            xcom = as_dict(row.xcom)
            how = "adopted" if xcom.get("adopted") else ("copied" if xcom else "-")
            lines.append(f"{row.task_id:24} {row.label or '?':44} {row.state:8} {how}")
    for snap in world.client("rds", DR_REGION).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        tags = {t["Key"]: t["Value"] for t in snap.get("TagList", [])}
        lines.append(
            f"in {DR_REGION}: {snap['DBSnapshotIdentifier']} encrypted={snap.get('Encrypted')} "
            f"source={tags.get('backstop:source-arn', '-')}"
        )
    if not lines:
        lines.append("nothing to copy")
    return lines


def expect_copies(count: int) -> Callable[[World, RunResult], Lines]:
    def check(world: World, result: RunResult) -> Lines:
        copies = world.client("rds", DR_REGION).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
        managed = [c for c in copies if MANAGED in c.get("TagList", [])]
        if len(managed) == count:
            return []
        return [f"expected {count} managed copies in {DR_REGION}, found {len(managed)}"]

    return check


EARLIER_WEEKS = ["20261025", "20261101", "20261108", "20261115"]


def add_earlier_weekly_snapshots(world: World) -> Lines:
    """Older weekly snapshots of production, as a month of Sundays would have left them.

    moto cannot backdate create times, so they are created now, seconds apart and before this
    week's run: the rules keep this week's, min_keep the newest earlier one, the rest go.
    """
    client = world.client("rds")
    tags = [
        MANAGED,
        {"Key": "backstop:policy", "Value": "triflow-rds-weekly"},
        {"Key": "backstop:tier", "Value": "weekly"},
    ]
    made = []
    for day in EARLIER_WEEKS:
        name = f"triflow-ai-production-db-weekly-{day}"
        try:
            client.create_db_snapshot(
                DBInstanceIdentifier="triflow-ai-production-db", DBSnapshotIdentifier=name, Tags=tags
            )
            made.append(name)
        except client.exceptions.DBSnapshotAlreadyExistsFault:
            pass
    if "dba-before-upgrade" not in _manual_names(world):
        client.create_db_snapshot(
            DBInstanceIdentifier="triflow-ai-production-db",
            DBSnapshotIdentifier="dba-before-upgrade",
            Tags=[{"Key": "owner", "Value": "dba"}],
        )
    return [f"added {len(made)} older managed snapshots and one unmanaged (dba-before-upgrade)"]


def _manual_names(world: World) -> set[str]:
    snapshots = world.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    return {s["DBSnapshotIdentifier"] for s in snapshots}


def _report(world: World, uri: str) -> dict:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(world.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def summarize_prune(world: World, result: RunResult) -> Lines:
    lines = []
    for row in [*result.rows("plan_retention"), *result.rows("apply_retention")]:
        xcom = as_dict(row.xcom)
        if row.task_id == "plan_retention" and xcom:
            mode = "dry run" if xcom["dry_run"] else "real run"
            lines.append(f"plan ({mode}): {xcom['counts']}")
            lines.append(f"report: {xcom['report']}")
            report = _report(world, xcom["report"])
            lines.append(f"  {'snapshot':44} {'region':15} {'age':6} {'decision':8} reason")
            for d in report["decisions"]:
                if d["action"] == "ignore" and not d["snapshot_id"].startswith("dba-"):
                    continue  # automated snapshots: listed in the report
                lines.append(
                    f"  {d['snapshot_id']:44} {d['region']:15} {d['age']:6} {d['action']:8} {d['reason'][:80]}"
                )
            for halted in xcom.get("halted", []):
                lines.append(f"  halted {halted}")
        if row.task_id == "apply_retention" and xcom:
            if xcom.get("dry_run"):
                # counts, not len(): the name lists in the XCom are capped at 100
                lines.append(
                    f"apply: dry run, {xcom['counts']['would_delete']} would be deleted, nothing deleted"
                )
            else:
                counts = xcom["counts"]
                lines.append(f"apply: deleted {counts['deleted']}, already gone {counts['already_gone']}")
    lines.append(f"manual snapshots now in ap-northeast-2: {', '.join(sorted(_manual_names(world)))}")
    return lines


def expect_pruned(deleted: bool) -> Callable[[World, RunResult], Lines]:
    def check(world: World, result: RunResult) -> Lines:
        names = _manual_names(world)
        problems = []
        if "dba-before-upgrade" not in names:
            problems.append("the unmanaged snapshot was deleted")
        old = {f"triflow-ai-production-db-weekly-{d}" for d in EARLIER_WEEKS[:3]}
        if deleted and old & names:
            problems.append(f"expected {sorted(old & names)} to be deleted")
        if not deleted and old - names:
            problems.append(f"dry run deleted {sorted(old - names)}")
        return problems

    return check


SCENARIOS = [
    Scenario(
        title="rds_weekly_snapshot: the Sunday 03:00 KST run",
        dag_file="rds_snapshot.py",
        dag_id="rds_weekly_snapshot",
        expect_state="success",
        explain="One mapped task per protected database; each creates a managed manual snapshot, "
        "waits for it (deferrable) and verifies it. (First, the snapshots of four earlier Sundays are "
        "added, as past runs would have left them; the retention scenarios below prune them.)",
        before=add_earlier_weekly_snapshots,
        summarize=summarize_snapshots,
        checks=expect_snapshot_states(ALL_OK),
    ),
    Scenario(
        title="rds_weekly_snapshot again for the same date (a retry or re-run)",
        dag_file="rds_snapshot.py",
        dag_id="rds_weekly_snapshot",
        expect_state="success",
        explain="Names are deterministic from the run date, so the re-run adopts the snapshots it made "
        "instead of failing or duplicating them.",
        summarize=summarize_snapshots,
        checks=expect_snapshot_states(ALL_OK),
    ),
    Scenario(
        title="rds_weekly_snapshot with a database that no longer exists",
        dag_file="rds_snapshot.py",
        dag_id="rds_weekly_snapshot",
        expect_state="failed",
        explain="The policy names triflow-ai-ghost-db, which is not in the account: its task fails, "
        "the others still succeed, the run ends failed, and Slack gets exactly one alert.",
        policy_change=add_ghost_database,
        summarize=summarize_snapshots,
        checks=expect_snapshot_states({**ALL_OK, "triflow-ai-ghost-db": "failed"}),
    ),
    Scenario(
        title="rds_cross_region_copy: copy the new snapshots to the DR region",
        dag_file="rds_cross_region_copy.py",
        dag_id="rds_cross_region_copy",
        expect_state="success",
        explain="Scheduled on the asset the weekly DAG updates. The newest managed snapshot of each database "
        "whose policy has a DR region is copied to ap-northeast-1 with the DR KMS key, waited for there "
        "(deferrable, pool of 20) and verified there.",
        summarize=summarize_copies,
        checks=expect_copies(2),
    ),
    Scenario(
        title="retention_prune triggered by hand: a dry run",
        dag_file="retention_prune.py",
        dag_id="retention_prune",
        schedule="daily",
        expect_state="success",
        explain="A manual trigger defaults to a dry run: the plan is printed and written to the report "
        "bucket, nothing is deleted.",
        summarize=summarize_prune,
        checks=expect_pruned(deleted=False),
    ),
    Scenario(
        title="retention_prune with dry_run off and confirm_delete=DELETE: the real run",
        dag_file="retention_prune.py",
        dag_id="retention_prune",
        schedule="daily",
        expect_state="success",
        conf={"dry_run": False, "confirm_delete": "DELETE"},
        explain="Same plan, executed: snapshots no rule keeps are deleted; unmanaged and automated snapshots, "
        "the newest per rule and the min_keep newest stay.",
        summarize=summarize_prune,
        checks=expect_pruned(deleted=True),
    ),
]
