"""Demo scenarios for the resilience drills: a forced failover (and one that does not happen), a
failover of the staging Aurora cluster, an ECS task loss, and the quarterly rebuild.

The failover and the replacement task come from the emulated control plane beside moto
(include/local/emulation.py); the probe outage is real, on the local data plane. The rebuild
runs after the Terraform state scenarios (it restores the newest state backup) and restores the
DR copy made by the rds_cross_region_copy scenario.
"""

from __future__ import annotations

from collections.abc import Callable

from include.local.demo.scenario import Lines, RunResult, Scenario, World
from include.local.emulation import configure
from include.local.resilience_fleet import STAGING_AURORA, STAGING_HA_DB, seed_dataplane


def _emulate(world: World, **settings) -> None:
    configure(
        world.aws_endpoint_url,
        dataplane_admin_dsn=world.dataplane.admin_dsn,
        failover_seconds=3,
        outage_seconds=2,
        replace_after_seconds=2,
        **settings,
    )


def _az(world: World) -> str:
    return world.client("rds").describe_db_instances(DBInstanceIdentifier=STAGING_HA_DB)["DBInstances"][0][
        "AvailabilityZone"
    ]


def before_failover(failover: str) -> Callable[[World], Lines]:
    def before(world: World) -> Lines:
        database = seed_dataplane(world.dataplane, world.aws_endpoint_url)
        _emulate(world, failover=failover, task_loss="ok")
        how = (
            "fails over to the other AZ after 3 s"
            if failover == "ok"
            else "REBOOTS WITHOUT FAILING OVER (emulation told to misbehave)"
        )
        return [
            f"{STAGING_HA_DB} (Multi-AZ, environment=staging) is in {_az(world)}; its database {database} "
            "on the embedded PostgreSQL",
            f"emulated control plane: a forced failover {how}; the database refuses connections for 2 s",
        ]

    return before


def aurora_failover(policy: dict) -> None:
    """Only the failover drill, aimed at the staging Aurora cluster instead of the instance."""
    only("failover")(policy)
    drill = policy["resilience"]["failover"][0]
    drill.pop("id", None)
    drill["cluster"] = STAGING_AURORA


def before_aurora_failover(world: World) -> Lines:
    seed_dataplane(world.dataplane, world.aws_endpoint_url)
    _emulate(world, failover="ok", cluster_failover="ok", task_loss="ok")
    rds = world.client("rds")
    cluster = rds.describe_db_clusters(DBClusterIdentifier=STAGING_AURORA)["DBClusters"][0]
    members = []
    for member in cluster["DBClusterMembers"]:
        az = rds.describe_db_instances(DBInstanceIdentifier=member["DBInstanceIdentifier"])["DBInstances"][0][
            "AvailabilityZone"
        ]
        role = "writer" if member["IsClusterWriter"] else "reader"
        members.append(f"{role} {member['DBInstanceIdentifier']} in {az}")
    return [
        f"{STAGING_AURORA} (Aurora PostgreSQL, environment=staging): {', '.join(members)}",
        "emulated control plane: moto promotes the reader; the cluster is failing-over for 3 s with RDS "
        "events, its database refuses connections for 2 s",
    ]


def before_task_loss(world: World) -> Lines:
    _emulate(world, failover="ok", task_loss="ok")
    return ["emulated ECS scheduler: a stopped service task is replaced after 2 s"]


def before_rebuild(world: World) -> Lines:
    """A state that matches the code (release v1) as the newest backup, as the daily backup leaves it."""
    from datetime import date

    from backstop.tfstate.backup import backup_state
    from backstop.tfstate.sources import describe, read_s3_backend
    from backstop.tfstate.state import parse_state
    from include.local.terraform_project import REGION as TF_REGION
    from include.local.terraform_project import apply_demo, s3_client

    apply_demo(world.aws_endpoint_url, release="v2")
    apply_demo(world.aws_endpoint_url, release="v1")
    source = {
        "type": "s3_backend",
        "bucket": "triflow-terraform-state",
        "key": "infrastructure/terraform.tfstate",
        "region": TF_REGION,
        "workspace_key_prefix": "env:",
    }
    vault = {
        "bucket": "triflow-backstop-tfstate-vault",
        "region": TF_REGION,
        "prefix": "terraform-state",
        "kms_key_id": "alias/triflow-rds",
        "object_lock": {"mode": "GOVERNANCE", "days": 30},
        "dr": {
            "bucket": "triflow-backstop-tfstate-vault-dr",
            "region": "ap-northeast-1",
            "kms_key_id": "alias/backstop-dr",
        },
    }
    s3 = s3_client(world.aws_endpoint_url)
    data = read_s3_backend(s3, source, "default")
    facts = parse_state(data)
    backup_state(
        data,
        facts,
        primary=s3,
        dr=s3_client(world.aws_endpoint_url, "ap-northeast-1"),
        vault_settings=vault,
        project="triflow-infra",
        workspace="default",
        source=describe(source, "default"),
        day=date.today(),
        run_id="demo-before-rebuild",
        tier="daily",
    )
    return [
        "terraform apply release=v2, then back to v1 (the code's value), and a state backup of "
        f"serial {facts.serial}, as terraform_state_backup leaves it",
    ]


def _reports(result: RunResult) -> list[dict]:
    return [r.xcom for r in result.tasks if isinstance(r.xcom, dict) and r.xcom.get("kind") in KINDS]


KINDS = ("failover", "task_loss", "rebuild")


def summarize(world: World, result: RunResult) -> Lines:
    from backstop.resilience.evidence import summary_text

    lines = []
    reports = _reports(result)
    if not reports:  # a failed drill returns nothing: its report is in S3
        reports = _s3_reports(world)
    for report in reports:
        lines.append(summary_text(report))
        if report.get("kind") == "failover":
            client = report.get("client") or {}
            lines.append(
                f"  probe: {client.get('probes')} probes, {client.get('failures')} failed, "
                f"first failure {report.get('client', {}).get('first_failure_at')}, back {client.get('recovered_at')}"
            )
            for event in report.get("events") or []:
                lines.append(f"  RDS event {event['at']}: {event['message']}")
        lines.append(f"  report {report.get('report_uri')}")
    return lines


def _s3_reports(world: World) -> list[dict]:
    import json

    s3 = world.client("s3")
    listed = s3.list_objects_v2(Bucket="triflow-backstop-reports", Prefix="reports/resilience/").get(
        "Contents", []
    )
    newest = sorted(listed, key=lambda o: o["LastModified"])[-1:]
    return [
        json.loads(s3.get_object(Bucket="triflow-backstop-reports", Key=o["Key"])["Body"].read())
        for o in newest
    ]


def expect(
    kind: str, passed: bool, *, slack_words: tuple[str, ...] = ()
) -> Callable[[World, RunResult], Lines]:
    def check(world: World, result: RunResult) -> Lines:
        problems = []
        reports = [r for r in (_reports(result) or _s3_reports(world)) if r.get("kind") == kind]
        if not reports:
            return [f"no {kind} report"]
        if bool(reports[-1].get("passed")) != passed:
            problems.append(
                f"expected the {kind} drill to {'pass' if passed else 'fail'}: {reports[-1]['failures']}"
            )
        texts = " ".join(m["text"] for m in result.slack)
        problems += [f"no Slack message says {w!r}" for w in slack_words if w not in texts]
        return problems

    return check


def only(kind: str) -> Callable[[dict], None]:
    def change(policy: dict) -> None:
        section = policy["resilience"]
        for other in ("failover", "task_loss"):
            if other != kind:
                section[other] = []
        for drill in section["task_loss"]:
            drill["poll_interval"] = "1s"  # the demo's scheduler replaces in 2 s

    return change


SCENARIOS = [
    Scenario(
        title="resilience_drill_monthly: forced failover of the staging Multi-AZ database",
        dag_file="resilience_drill_monthly.py",
        dag_id="resilience_drill_monthly",
        schedule="monthly-drill",
        expect_state="success",
        explain="Seed Test 1: RebootDBInstance(ForceFailover) on triflow-ai-staging-ha-db (environment=staging), "
        "measured from the control plane (AZ, RDS events) and from a client probing SELECT 1 every second.",
        policy_change=only("failover"),
        before=before_failover("ok"),
        summarize=summarize,
        checks=expect("failover", True, slack_words=("PASSED", "client downtime")),
    ),
    Scenario(
        title="... when the failover does not happen (the emulation reboots in place)",
        dag_file="resilience_drill_monthly.py",
        dag_id="resilience_drill_monthly",
        schedule="monthly-drill",
        expect_state="failed",
        explain="The instance comes back in the same AZ: however short the outage, the drill FAILS "
        "('the failover did not happen') and Slack says so.",
        policy_change=only("failover"),
        before=before_failover("no-az-change"),
        summarize=summarize,
        checks=expect("failover", False, slack_words=("FAILED", "did not happen")),
    ),
    Scenario(
        title="resilience_drill_monthly: failover of the staging Aurora cluster (FailoverDBCluster)",
        dag_file="resilience_drill_monthly.py",
        dag_id="resilience_drill_monthly",
        schedule="monthly-drill",
        expect_state="success",
        explain="The same drill with `cluster:` instead of `id:`: the writer must change (IsClusterWriter), "
        "measured from the cluster's events and status and from the client probing its endpoint.",
        policy_change=aurora_failover,
        before=before_aurora_failover,
        summarize=summarize,
        checks=expect("failover", True, slack_words=("PASSED", f"{STAGING_AURORA} writer")),
    ),
    Scenario(
        title="resilience_drill_monthly: ECS task loss on the staging backend service",
        dag_file="resilience_drill_monthly.py",
        dag_id="resilience_drill_monthly",
        schedule="monthly-drill",
        expect_state="success",
        explain="Seed Test 2: stop one of the 2 tasks of triflow-ai-staging-backend-service, wait (deferred) "
        "until 2 tasks are RUNNING again, measure the recovery against 3 minutes.",
        policy_change=only("task_loss"),
        before=before_task_loss,
        summarize=summarize,
        checks=expect("task_loss", True, slack_words=("PASSED",)),
    ),
    Scenario(
        title="rebuild_drill_quarterly: state backup planned against the code, DR copy restored",
        dag_file="rebuild_drill_quarterly.py",
        dag_id="rebuild_drill_quarterly",
        schedule="quarterly-rebuild",
        expect_state="success",
        explain="Seed Test 4: the newest Terraform state backup into a scratch workspace and `terraform plan` "
        "(no drift), the newest DR copy restored in ap-northeast-1 and verified, deleted; total vs 4 h.",
        before=before_rebuild,
        summarize=summarize,
        checks=expect("rebuild", True, slack_words=("Rebuild drill quarterly-rebuild PASSED",)),
    ),
]
