"""Demo scenarios for backup_freshness: a new DR region with no copies goes red (one alert),
the copies arrive, and the next check says "✅ recovered" (one message).

They run after the RDS and drill scenarios, so the table also shows what those left: the
production DR copy a passing drill tagged restore-verified, and the failed PITR drill (amber).
"""

from __future__ import annotations

from collections.abc import Callable

from include.local.demo.scenario import PRIMARY_REGION, Lines, RunResult, Scenario, World

NEW_DR = "ap-southeast-1"
BUCKET = "triflow-backstop-reports"


def add_dr_region(policy: dict) -> None:
    """A second DR region for the RDS policy (Singapore); nothing has been copied there yet."""
    # No DynamoDB rows: moto never advances DynamoDB's LatestRestorableDateTime, so the table's PITR
    # row would turn red five minutes into the demo (DynamoDB freshness: tests/dynamodb).
    policy.pop("dynamodb", None)
    # and no S3 rows: the demo runs no s3_protection (its dated copy is what freshness reads).
    policy.pop("s3", None)
    policy["rds_snapshots"][0]["dr_regions"].append({"region": NEW_DR, "kms_key_id": "alias/backstop-dr"})


def summarize_freshness(world: World, result: RunResult) -> Lines:
    from backstop.freshness.evidence import read_latest
    from backstop.freshness.operators import table

    report = read_latest(world.client("s3"), BUCKET)
    if report is None:
        return ["no freshness report in the bucket"]
    head = f"{'resource':28} {'region':15} {'role':6} {'state':5} {'age':>7}  reason"
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items())
    return [head, *table(report), f"s3://{BUCKET}/freshness/latest.json: {counts}"]


def copy_to_new_region(world: World) -> Lines:
    """The copies arrive, made with the call and tags rds_cross_region_copy uses."""
    from backstop.naming import MANAGED_TAG, POLICY_TAG, SOURCE_ARN_TAG, SOURCE_REGION_TAG

    kms = world.client("kms", NEW_DR)
    aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    if "alias/backstop-dr" not in aliases:
        key = kms.create_key(Description="Backstop DR key (demo, Singapore)")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/backstop-dr", TargetKeyId=key)
    source, target = world.client("rds"), world.client("rds", NEW_DR)
    newest: dict[str, dict] = {}
    for page in source.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
        for snap in page["DBSnapshots"]:
            tags = {t["Key"]: t["Value"] for t in snap.get("TagList", [])}
            if tags.get(MANAGED_TAG) != "true" or tags.get(POLICY_TAG) != "triflow-rds-weekly":
                continue
            db = snap["DBInstanceIdentifier"]
            if db not in newest or snap["SnapshotCreateTime"] > newest[db]["SnapshotCreateTime"]:
                newest[db] = snap
    lines = []
    for _db, snap in sorted(newest.items()):
        tags = [t for t in snap["TagList"] if not t["Key"].startswith("backstop:source-")]
        tags += [
            {"Key": SOURCE_ARN_TAG, "Value": snap["DBSnapshotArn"]},
            {"Key": SOURCE_REGION_TAG, "Value": PRIMARY_REGION},
        ]
        target.copy_db_snapshot(
            SourceDBSnapshotIdentifier=snap["DBSnapshotArn"],
            TargetDBSnapshotIdentifier=snap["DBSnapshotIdentifier"],
            SourceRegion=PRIMARY_REGION,
            KmsKeyId="alias/backstop-dr",
            Tags=tags,
        )
        lines.append(f"copied {snap['DBSnapshotIdentifier']} to {NEW_DR}")
    return lines


def expect_one_message(starts: str, red_regions: set[str]) -> Callable[[World, RunResult], Lines]:
    def check(world: World, result: RunResult) -> Lines:
        from backstop.freshness.evidence import read_latest

        problems = []
        if len(result.slack) != 1 or not result.slack[0]["text"].startswith(starts):
            problems.append(
                f"expected one Slack message starting {starts!r}, got {[m['text'] for m in result.slack]}"
            )
        report = read_latest(world.client("s3"), BUCKET)
        red = {r.region for r in report.rows if r.status == "red"} if report else {"no report"}
        if red != red_regions:
            problems.append(f"expected red rows in {sorted(red_regions) or 'no region'}, got {sorted(red)}")
        return problems

    return check


SCENARIOS = [
    Scenario(
        title=f"backup_freshness: a DR region ({NEW_DR}) added to the policy, nothing copied there yet",
        dag_file="backup_freshness.py",
        dag_id="backup_freshness",
        expect_state="success",
        explain="Every resource in every region it belongs in. The new region's rows are red (no DR copy) and "
        "Slack gets one alert; the other regions keep their colour.",
        policy_change=add_dr_region,
        summarize=summarize_freshness,
        checks=expect_one_message("Backstop: backup stale", {NEW_DR}),
    ),
    Scenario(
        title="backup_freshness: the copies have arrived",
        dag_file="backup_freshness.py",
        dag_id="backup_freshness",
        expect_state="success",
        explain="The next hourly check finds the copies: one '✅ recovered' message, no repeat of the alert "
        "(the alert state is freshness/state.json in the report bucket).",
        policy_change=add_dr_region,
        before=copy_to_new_region,
        summarize=summarize_freshness,
        checks=expect_one_message("✅ recovered", set()),
    ),
]
