"""Demo scenarios for the RDS snapshot pipeline (rds_weekly_snapshot)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from include.local.demo import Demo, Scenario


def rds_client(demo: Demo, region: str = "ap-northeast-2") -> Any:
    import boto3

    return boto3.client(
        "rds",
        region_name=region,
        endpoint_url=demo.stack.aws_endpoint_url,
        aws_access_key_id="testing",  # the emulator's dummy keys
        aws_secret_access_key="testing",
    )


def summarize_snapshots(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
    lines = [f"{'resource':28} {'snapshot':44} {'state':8} {'how':8} {'took':>6}"]
    for row in sorted(result["tasks"], key=lambda r: (r["task_id"], r["map_index"])):
        if row["task_id"] != "snapshot":
            continue
        xcom = row["xcom"] if isinstance(row["xcom"], dict) else {}
        how = "adopted" if xcom.get("adopted") else ("created" if xcom else "-")
        wait = f"{xcom['duration_seconds']:.2f}s" if xcom.get("duration_seconds") is not None else "-"
        lines.append(
            f"{row['label'] or '?':28} {xcom.get('snapshot_id', '-'):44} {row['state']:8} {how:8} {wait:>6}"
        )
    client = rds_client(demo)
    managed = []
    for page in client.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
        managed += [
            s for s in page["DBSnapshots"] if {"Key": "backstop:managed", "Value": "true"} in s["TagList"]
        ]
    clusters = client.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    managed_clusters = [
        s for s in clusters if {"Key": "backstop:managed", "Value": "true"} in s.get("TagList", [])
    ]
    lines.append(
        f"managed snapshots now in ap-northeast-2: {len(managed)} instance, {len(managed_clusters)} cluster "
        f"({', '.join(sorted(s['DBSnapshotIdentifier'] for s in managed))})"
    )
    return lines


def expect_snapshot_states(expected: dict[str, str]) -> Callable[[Demo, Scenario, dict], list[str]]:
    def check(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
        got = {r["label"]: r["state"] for r in result["tasks"] if r["task_id"] == "snapshot"}
        problems = [f"{k}: expected {v}, got {got.get(k)}" for k, v in expected.items() if got.get(k) != v]
        failed = [k for k, v in expected.items() if v == "failed"]
        if len(result["slack"]) != len(failed):
            problems.append(f"expected {len(failed)} Slack alert(s), recorder got {len(result['slack'])}")
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

SCENARIOS = [
    Scenario(
        title="rds_weekly_snapshot: the Sunday 03:00 KST run",
        dag_id="rds_weekly_snapshot",
        expect_state="success",
        explain="One mapped task per protected database; each creates a managed manual snapshot, "
        "waits for it (deferrable) and verifies it.",
        summarize=summarize_snapshots,
        checks=expect_snapshot_states(ALL_OK),
    ),
    Scenario(
        title="rds_weekly_snapshot again for the same date (a retry or re-run)",
        dag_id="rds_weekly_snapshot",
        expect_state="success",
        explain="Names are deterministic from the run date, so the re-run adopts the snapshots it made "
        "instead of failing or duplicating them.",
        summarize=summarize_snapshots,
        checks=expect_snapshot_states(ALL_OK),
    ),
    Scenario(
        title="rds_weekly_snapshot with a database that no longer exists",
        dag_id="rds_weekly_snapshot",
        expect_state="failed",
        explain="The policy names triflow-ai-ghost-db, which is not in the account: its task fails, "
        "the others still succeed, the run ends failed, and Slack gets exactly one alert.",
        policy_change=add_ghost_database,
        summarize=summarize_snapshots,
        checks=expect_snapshot_states({**ALL_OK, "triflow-ai-ghost-db": "failed"}),
    ),
]
