"""Freshness rows for bunker copies: red until a copy is in the backup account, then green."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from backstop.bunker.copy import BunkerCopyOperator, BunkerPlanCopiesOperator
from backstop.freshness.monitor import evaluate
from backstop.freshness.registry import all_targets
from backstop.policy import parse_policy
from include.local.bunker_fleet import BUNKER_ACCOUNT
from tests.bunker.bunker_world import AURORA, CONTEXT, DATABASES, PROD, REGION, managed_snapshot
from tests.dag_loading import shipped_policy


def _rows(local_stack, now: datetime) -> dict:
    policy = parse_policy(shipped_policy())
    targets = [t for t in all_targets(policy) if t.kind == "rds_bunker_copy"]
    report = evaluate(
        targets,
        [],
        client_factory=lambda service, region: boto3.client(
            service, region_name=region, endpoint_url=local_stack.aws_endpoint_url
        ),
        report_bucket=policy.defaults.report_bucket,
        report_region=policy.defaults.region,
        now=now,
    )
    return {r.resource_id: r for r in report.rows}


def test_bunker_rows_are_red_without_a_copy_and_green_with_one_then_stale(fleet, local_stack):
    managed_snapshot(PROD)
    rows = _rows(local_stack, datetime.now(UTC))
    assert {k: (r.status, r.region, r.role) for k, r in rows.items()} == {
        PROD: ("red", f"bunker/{REGION}", "dr"),
        AURORA: (
            "red",
            f"bunker/{REGION}",
            "dr",
        ),  # the Aurora policy selects it by tag, resolved in the source
    }

    (job,) = BunkerPlanCopiesOperator(
        task_id="plan",
        aws_conn_id="aws_bunker",
        source_conn_id="aws_default",
        bunker_account=BUNKER_ACCOUNT,
        regions=[{"region": REGION, "kms_key_id": "alias/backstop-bunker"}],
        databases=DATABASES,
    ).execute(CONTEXT)
    BunkerCopyOperator(
        task_id="copy",
        aws_conn_id="aws_bunker",
        source_conn_id="aws_default",
        bunker_account=BUNKER_ACCOUNT,
        waiter_delay=0,
        **job,
    ).execute(CONTEXT)

    rows = _rows(local_stack, datetime.now(UTC))
    assert rows[PROD].status == "green" and rows[PROD].newest_backup_id == job["snapshot"]["snapshot_id"]
    assert rows[AURORA].status == "red"
    later = _rows(local_stack, datetime.now(UTC) + timedelta(days=9))  # the weekly tier's max_age is 8 days
    assert later[PROD].status == "red"
