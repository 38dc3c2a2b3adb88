"""Demo scenarios for the restore drills: restore_drill_monthly, restore_point_in_time, the sweeper.

The drills verify real rows on the local data plane (the embedded PostgreSQL the harness starts
with the stack, include/local/dataplane.py). Order matters: the DR drill restores the copy made
by the rds_cross_region_copy scenario (include/local/demo/rds.py), so these run after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from include.local.demo.scenario import Lines, RunResult, Scenario, World, as_dict


def _plane(world: World) -> Any:
    if world.dataplane is None:
        raise RuntimeError("the drill scenarios need the local data plane (the harness starts it)")
    return world.dataplane


# --- before hooks ----------------------------------------------------------------------------------


def healthy_source(world: World) -> Lines:
    plane = _plane(world)
    plane.seed_source()
    plane.touch_heartbeat()
    return ["source triflow re-seeded: 120 workflows, heartbeat now()"]


def empty_workflows(world: World) -> Lines:
    plane = _plane(world)
    plane.seed_source()
    plane.sql("DELETE FROM core.workflows")
    return ["source triflow: DELETE FROM core.workflows (the drill must catch it)"]


def orphans(world: World) -> Lines:
    rds = world.client("rds")
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
    expired = [
        {"Key": "backstop:managed", "Value": "true"},
        {"Key": "backstop:drill", "Value": "true"},
        {"Key": "backstop:expires-at", "Value": past},
    ]
    # (no unmanaged drill-named table here: the DynamoDB drill scenario checks no -bsdrill- table is
    # left; tests/drills/test_sweep_datastores.py proves such a table is left alone)
    ddb = world.client("dynamodb")
    arn = ddb.create_table(
        TableName=LEFTOVER_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=expired)
    world.client("elasticache").create_replication_group(
        ReplicationGroupId=LEFTOVER_GROUP,
        ReplicationGroupDescription="a crashed drill's group",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        Tags=expired,
    )
    return [
        "added triflow-ai-production-db-drill-20261004 (managed drill instance, expired an hour ago)",
        "added someones-scratch-db (expires-at tag but not managed: must be left alone)",
        f"added {LEFTOVER_TABLE} and {LEFTOVER_GROUP} (a crashed DynamoDB / ElastiCache drill's, expired)",
    ]


LEFTOVER_TABLE = "triflow-workflow-state-bsdrill-pitr-20261004"
LEFTOVER_GROUP = "triflow-ai-redis-drill-20261004"


# --- summaries and checks ----------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    """The drill report's duration text (backstop.reports.duration_text), imported when needed."""
    from backstop.reports import duration_text

    return duration_text(seconds)


def summarize_drills(world: World, result: RunResult) -> Lines:
    lines = []
    for row in sorted(result.tasks, key=lambda r: r.task_id):
        if not row.task_id.endswith("report") or not isinstance(row.xcom, dict):
            continue
        report = row.xcom
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
                f"  RTO {_duration(report['rto_seconds'])} (target {_duration(objectives.get('rto_seconds'))})"
                f"  RPO {_duration(report['rpo_seconds'])} (target {_duration(objectives.get('rpo_seconds'))})"
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


def expect_no_drill_instances(world: World, result: RunResult) -> Lines:
    problems = []
    for region in ("ap-northeast-2", "ap-northeast-1"):
        left = [
            i["DBInstanceIdentifier"]
            for i in world.client("rds", region).describe_db_instances()["DBInstances"]
            if "-drill-" in i["DBInstanceIdentifier"]
        ]
        if left:
            problems.append(f"drill instances left in {region}: {left}")
    return problems


def expect_slack_naming(word: str) -> Callable[[World, RunResult], Lines]:
    def check(world: World, result: RunResult) -> Lines:
        problems = expect_no_drill_instances(world, result)
        if not any(word in m["text"] for m in result.slack):
            problems.append(f"no Slack message names {word!r}")
        return problems

    return check


def expect_swept(world: World, result: RunResult) -> Lines:
    names = {i["DBInstanceIdentifier"] for i in world.client("rds").describe_db_instances()["DBInstances"]}
    problems = []
    if "triflow-ai-production-db-drill-20261004" in names:
        problems.append("the expired drill instance is still there")
    if "someones-scratch-db" not in names:
        problems.append("the unmanaged instance was deleted")
    tables = set(world.client("dynamodb").list_tables()["TableNames"])
    if LEFTOVER_TABLE in tables:
        problems.append("the expired DynamoDB drill table is still there")
    groups = world.client("elasticache").describe_replication_groups()["ReplicationGroups"]
    if any(g["ReplicationGroupId"] == LEFTOVER_GROUP and g["Status"] != "deleting" for g in groups):
        problems.append("the expired ElastiCache drill group was not deleted")
    return problems


def summarize_sweep(world: World, result: RunResult) -> Lines:
    for row in result.rows("sweep"):
        xcom = as_dict(row.xcom)
        if xcom:
            deleted = [d["id"] for d in xcom["deleted"]]
            return [f"deleted: {deleted or 'nothing'}; kept {len(xcom['kept'])} unexpired drill leftover(s)"]
    return []


def only_pitr(policy: dict) -> None:
    policy["drills"] = [d for d in policy["drills"] if d["kind"] == "pitr"]
    policy["defaults"]["retries"] = {"count": 0}


SCENARIOS = [
    Scenario(
        title="restore_drill_monthly: the first-Sunday 03:00 KST drills",
        dag_file="restore_drill_monthly.py",
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
        dag_file="restore_drill_monthly.py",
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
        dag_file="restore_point_in_time.py",
        dag_id="restore_point_in_time",
        schedule="monthly-drill",
        expect_state="failed",
        explain="Runbook 2 by hand, for 2020-01-01: refused before anything is created, with the valid window.",
        conf={"source": "triflow-ai-production-db", "restore_time": "2020-01-01T00:00:00Z"},
        before=healthy_source,
    ),
    Scenario(
        title="drill_orphan_sweeper: expired drill leftovers (RDS, DynamoDB, ElastiCache) and an unmanaged one",
        dag_file="drill_orphan_sweeper.py",
        dag_id="drill_orphan_sweeper",
        schedule="monthly-drill",
        expect_state="success",
        explain="Deletes managed drill instances, DynamoDB drill tables and ElastiCache drill groups past "
        "backstop:expires-at, never anything without the tags "
        "(a manual run deletes only with dry_run off and DELETE typed).",
        conf={"dry_run": False, "confirm_delete": "DELETE"},
        before=orphans,
        summarize=summarize_sweep,
        checks=expect_swept,
    ),
]
