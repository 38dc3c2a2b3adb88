"""Demo scenarios for the restore drills (restore_drill_monthly, restore_point_in_time, sweeper).

The drills verify real rows, so the demo needs the local data plane (an embedded
PostgreSQL, see include/local/dataplane.py) running and announced to the `airflow dags test`
subprocesses through BACKSTOP_LOCAL_DATAPLANE. `start_dataplane(demo)` does both (call it
after the fleet is seeded: it gives the master role the password of the fleet's Secrets
Manager secret) and `stop_dataplane(demo)` stops it. Scenario order matters: the DR drill
restores the copy made by the rds_cross_region_copy scenario, so these run after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from include.local.demo import ROOT, Demo, Scenario

PLANE_DIR = ROOT / ".local" / "demo" / "pg"


def _client(demo: Demo, service: str, region: str = "ap-northeast-2") -> Any:
    import boto3

    return boto3.client(
        service,
        region_name=region,
        endpoint_url=demo.stack.aws_endpoint_url,
        aws_access_key_id="testing",  # the emulator's dummy keys
        aws_secret_access_key="testing",
    )


# --- data plane lifecycle (wired by include/local/demo.py) ----------------------------------------


def start_dataplane(demo: Demo) -> list[str]:
    """Start the embedded PostgreSQL, seed `triflow`, set BACKSTOP_LOCAL_DATAPLANE in demo.env."""
    from include.local.dataplane import start_for_stack

    plane = start_for_stack(demo.stack.aws_endpoint_url, PLANE_DIR)
    demo.dataplane = plane
    demo.env.update(plane.env())
    rows = plane.sql("SELECT COUNT(*) FROM core.workflows")[0][0]
    return [
        f"embedded PostgreSQL on {plane.config()['host']}:{plane.port} (local data plane: emulation of RDS)",
        f"source database triflow: core.workflows has {rows} rows; master role password from Secrets Manager",
    ]


def stop_dataplane(demo: Demo) -> None:
    plane = getattr(demo, "dataplane", None)
    if plane is not None:
        plane.stop()


def _plane(demo: Demo) -> Any:
    plane = getattr(demo, "dataplane", None)
    if plane is None:
        raise SystemExit("the drill scenarios need demo_drill.start_dataplane(demo) in Demo.start()")
    return plane


# --- before hooks ----------------------------------------------------------------------------------


def healthy_source(demo: Demo, scenario: Scenario) -> list[str]:
    plane = _plane(demo)
    plane.seed_source()
    plane.touch_heartbeat()
    return ["source triflow re-seeded: 120 workflows, heartbeat now()"]


def empty_workflows(demo: Demo, scenario: Scenario) -> list[str]:
    plane = _plane(demo)
    plane.seed_source()
    plane.sql("DELETE FROM core.workflows")
    return ["source triflow: DELETE FROM core.workflows (the drill must catch it)"]


def orphans(demo: Demo, scenario: Scenario) -> list[str]:
    rds = _client(demo, "rds")
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    common = {
        "DBInstanceClass": "db.t4g.medium",
        "Engine": "postgres",
        "MasterUsername": "demo",
        "MasterUserPassword": "demo-password-1",
        "AllocatedStorage": 20,
    }
    rds.create_db_instance(
        DBInstanceIdentifier="triflow-ai-production-db-drill-20261004",
        Tags=[
            {"Key": "backstop:managed", "Value": "true"},
            {"Key": "backstop:drill", "Value": "true"},
            {"Key": "backstop:expires-at", "Value": past},
        ],
        **common,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="someones-scratch-db",
        Tags=[{"Key": "backstop:expires-at", "Value": past}],
        **common,
    )
    return [
        "added triflow-ai-production-db-drill-20261004 (managed drill instance, expired an hour ago)",
        "added someones-scratch-db (expires-at tag but not managed: must be left alone)",
    ]


# --- summaries and checks ----------------------------------------------------------------------------


def summarize_drills(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
    from backstop.reports import duration_text

    lines = []
    for row in sorted(result["tasks"], key=lambda r: r["task_id"]):
        if not row["task_id"].endswith("report") or not isinstance(row["xcom"], dict):
            continue
        report = row["xcom"]
        verdict = "PASSED" if report.get("passed") else f"FAILED at {report.get('failed_step')}"
        lines.append(f"{report['name']} ({report['kind']}): {verdict}")
        lines.append(
            f"  restored {report.get('source')} -> {report.get('instance_id')} in {report.get('region')}, "
            f"restore point {report.get('restore_point')}"
        )
        for check in report.get("checks") or []:
            mark = "ok  " if check["passed"] else "FAIL"
            lines.append(
                f"  {mark} {check['name']:20} observed {check['observed']!s:34} {check['expectation']}"
            )
        objectives = report.get("objectives") or {}
        if report.get("rto_seconds") is not None:
            lines.append(
                f"  RTO {duration_text(report['rto_seconds'])} (target {duration_text(objectives.get('rto_seconds'))})"
                f"  RPO {duration_text(report['rpo_seconds'])} (target {duration_text(objectives.get('rpo_seconds'))})"
            )
        for failure in report.get("failures") or []:
            lines.append(f"  failure: {failure}")
        if report.get("tagged_snapshot"):
            lines.append(f"  tagged backstop:restore-verified=true on {report['tagged_snapshot']}")
        deleted = report.get("deleted") or {}
        lines.append(
            f"  drill instance deleted: {deleted.get('deleted', False)}; report {report.get('report_uri')}"
        )
    if not lines:
        lines.append("no report produced")
    return lines


def expect_no_drill_instances(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
    problems = []
    for region in ("ap-northeast-2", "ap-northeast-1"):
        left = [
            i["DBInstanceIdentifier"]
            for i in _client(demo, "rds", region).describe_db_instances()["DBInstances"]
            if "-drill-" in i["DBInstanceIdentifier"]
        ]
        if left:
            problems.append(f"drill instances left in {region}: {left}")
    return problems


def expect_slack_naming(word: str) -> Callable[[Demo, Scenario, dict], list[str]]:
    def check(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
        problems = expect_no_drill_instances(demo, scenario, result)
        if not any(word in m["text"] for m in result["slack"]):
            problems.append(f"no Slack message names {word!r}")
        return problems

    return check


def expect_swept(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
    names = {i["DBInstanceIdentifier"] for i in _client(demo, "rds").describe_db_instances()["DBInstances"]}
    problems = []
    if "triflow-ai-production-db-drill-20261004" in names:
        problems.append("the expired drill instance is still there")
    if "someones-scratch-db" not in names:
        problems.append("the unmanaged instance was deleted")
    return problems


def summarize_sweep(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
    for row in result["tasks"]:
        if row["task_id"] == "sweep" and isinstance(row["xcom"], dict):
            deleted = [d["instance_id"] for d in row["xcom"]["deleted"]]
            return [
                f"deleted: {deleted or 'nothing'}; kept {len(row['xcom']['kept'])} unexpired drill instance(s)"
            ]
    return []


def only_pitr(policy: dict) -> None:
    policy["drills"] = [d for d in policy["drills"] if d["kind"] == "pitr"]
    policy["defaults"]["retries"] = {"count": 0}


SCENARIOS = [
    Scenario(
        title="restore_drill_monthly: the first-Sunday 03:00 KST drills",
        dag_id="restore_drill_monthly",
        schedule="monthly-drill",
        expect_state="success",
        explain="PITR of production (5 minutes ago) and a restore of the newest DR-region copy in "
        "ap-northeast-1; each is verified with real SQL on the embedded PostgreSQL (local data plane "
        "emulation), RTO/RPO measured, the instance deleted, a report written and Slack told.",
        before=healthy_source,
        summarize=summarize_drills,
        checks=expect_no_drill_instances,
    ),
    Scenario(
        title="restore_drill_monthly with core.workflows emptied in the source",
        dag_id="restore_drill_monthly",
        schedule="monthly-drill",
        expect_state="failed",
        explain="The restored data is wrong: the workflows-present check fails, the drill fails and "
        "Slack names the check; the drill instance is still deleted (teardown, all_done).",
        policy_change=only_pitr,
        before=empty_workflows,
        summarize=summarize_drills,
        checks=expect_slack_naming("workflows-present"),
    ),
    Scenario(
        title="restore_point_in_time with a restore time outside the restorable window",
        dag_id="restore_point_in_time",
        schedule="monthly-drill",
        expect_state="failed",
        explain="Runbook 2 by hand, for 2020-01-01: refused before anything is created, with the valid window.",
        conf={"source": "triflow-ai-production-db", "restore_time": "2020-01-01T00:00:00Z"},
        before=healthy_source,
    ),
    Scenario(
        title="drill_orphan_sweeper: an expired drill instance and an unmanaged one",
        dag_id="drill_orphan_sweeper",
        schedule="monthly-drill",
        expect_state="success",
        explain="Deletes managed drill instances past backstop:expires-at, never anything without the tags.",
        before=orphans,
        summarize=summarize_sweep,
        checks=expect_swept,
    ),
]
