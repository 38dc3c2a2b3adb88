"""Helpers for the bunker tests: clients of both emulated accounts, and making managed snapshots.

The source account is moto's default (the dummy keys); the bunker account's clients carry the
credentials STS hands out for the bunker roles (moto keeps accounts apart by access key).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from backstop.snapshots.create import RdsManagedSnapshotOperator
from include.local.bunker_fleet import (
    BUNKER_ACCOUNT,
    BUNKER_EXTERNAL_ID,
    BUNKER_RETENTION_ROLE_ARN,
    BUNKER_ROLE_ARN,
)

REGION = "ap-northeast-2"
PROD = "triflow-ai-production-db"
STAGING = "triflow-ai-staging-db"
AURORA = "triflow-ai-analytics"
SUNDAY = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)  # Sunday 03:00 KST
CONTEXT = {"logical_date": SUNDAY, "run_id": "scheduled__2026-11-21T18:00:00+00:00", "dag_run": None}
DATABASES = [
    {"policy": "triflow-rds-weekly", "type": None, "id": PROD},
    {"policy": "triflow-aurora-weekly", "type": None, "id": None},
]


def source(service: str, endpoint: str, region: str = REGION) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def bunker(service: str, endpoint: str, region: str = REGION, *, retention: bool = False) -> Any:
    """A client IN the bunker account (the copy role's, or the retention role's, credentials)."""
    role = BUNKER_RETENTION_ROLE_ARN if retention else BUNKER_ROLE_ARN
    extra = {} if retention else {"ExternalId": BUNKER_EXTERNAL_ID}
    creds = source("sts", endpoint, region).assume_role(RoleArn=role, RoleSessionName="tests", **extra)[
        "Credentials"
    ]
    client = boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert (
        boto3.client(
            "sts",
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        ).get_caller_identity()["Account"]
        == BUNKER_ACCOUNT
    )
    return client


def managed_snapshot(
    db: str = PROD, db_type: str = "instance", policy: str = "triflow-rds-weekly", **kw
) -> dict:
    """A managed weekly snapshot made by Backstop's own operator in the source account."""
    return RdsManagedSnapshotOperator(
        task_id="snapshot",
        db_type=db_type,
        db_identifier=db,
        tier="weekly",
        policy_name=policy,
        timezone="Asia/Seoul",
        region_name=REGION,
        waiter_delay=0,
        **kw,
    ).execute(CONTEXT)
