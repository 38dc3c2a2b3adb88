"""Demo scenario for the backup account ("bunker"): copies in a second emulated account.

Runs after the weekly snapshot scenarios: the managed snapshots of the databases that asked for
it (production, the Aurora cluster) are shared, copied into account 210987654321 with its key,
verified there and unshared; then the source account's credentials try to delete the copy.
"""

from __future__ import annotations

from include.local.bunker_fleet import BUNKER_ACCOUNT, BUNKER_EXTERNAL_ID, BUNKER_ROLE_ARN
from include.local.demo.scenario import Lines, RunResult, Scenario, World, as_dict


def _bunker_rds(world: World):
    import boto3

    creds = world.client("sts").assume_role(
        RoleArn=BUNKER_ROLE_ARN, RoleSessionName="backstop-demo", ExternalId=BUNKER_EXTERNAL_ID
    )["Credentials"]
    return boto3.client(
        "rds",
        region_name="ap-northeast-2",
        endpoint_url=world.aws_endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _copies(world: World) -> list[dict]:
    rds = _bunker_rds(world)
    return [
        *rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"],
        *rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"],
    ]


def _source_delete(world: World, arn: str) -> str:
    """What the source account gets when it deletes the bunker copy by its ARN."""
    from botocore.exceptions import ClientError

    rds = world.client("rds")
    try:
        if ":cluster-snapshot:" in arn:
            rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=arn)
        else:
            rds.delete_db_snapshot(DBSnapshotIdentifier=arn)
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return "DELETED"


def summarize(world: World, result: RunResult) -> Lines:
    lines = []
    for row in result.rows("copy_to_bunker"):
        x = as_dict(row.xcom)
        how = "adopted" if x.get("adopted") else "created"
        arn = str(x.get("arn", "-:-:-:-:-"))
        lines.append(
            f"{x.get('snapshot_id', '-'):42} {row.state:8} {how:8} account {arn.split(':')[4]}, "
            f"{x.get('region', '-')}, key {str(x.get('kms_key_id', '-')).rsplit('/', 1)[-1][:8]}.."
        )
    for copy in _copies(world)[:1]:
        arn = copy.get("DBSnapshotArn") or copy.get("DBClusterSnapshotArn")
        lines.append(
            f"source account deletes {arn.rsplit(':', 1)[-1]} by its bunker ARN: {_source_delete(world, arn)}"
        )
    return lines


def check(world: World, result: RunResult) -> Lines:
    copies = _copies(world)
    names = sorted(c.get("DBSnapshotIdentifier") or c.get("DBClusterSnapshotIdentifier") for c in copies)
    problems = []
    if not any(n.startswith("triflow-ai-production-db-weekly-") for n in names) or not any(
        n.startswith("triflow-ai-analytics-weekly-") for n in names
    ):
        problems.append(f"expected production and analytics copies in the bunker, got {names}")
    if any(n.startswith("triflow-ai-staging-db") for n in names):
        problems.append("staging did not ask for bunker copies, but has one")
    for copy in copies:
        arn = copy.get("DBSnapshotArn") or copy.get("DBClusterSnapshotArn")
        if f":{BUNKER_ACCOUNT}:" not in arn or f":{BUNKER_ACCOUNT}:" not in copy.get("KmsKeyId", ""):
            problems.append(f"{arn} is not in the bunker account under its key")
        if _source_delete(world, arn) == "DELETED":
            problems.append(f"the source account deleted {arn}")
    if len(_copies(world)) != len(copies):
        problems.append("a bunker copy disappeared")
    return problems


SCENARIOS = [
    Scenario(
        title="bunker_copy: the newest managed snapshots into the backup account",
        dag_file="bunker_copy.py",
        dag_id="bunker_copy",
        expect_state="success",
        explain="Production and the Aurora cluster asked for it (staging did not): each newest managed "
        "snapshot is shared with account 210987654321, copied there through aws_bunker (role_arn) with "
        "the bunker's KMS key, verified there and unshared; the source account cannot delete the copy.",
        summarize=summarize,
        checks=check,
    ),
]
