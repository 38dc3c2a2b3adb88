"""Seed the second emulated account: the backup account ("bunker") of dr-plan-triflow.md's worst case.

In the bunker account (BUNKER_ACCOUNT): the copy role `backstop-bunker` (trusting only the source
account's Backstop role, with an ExternalId; it cannot delete), the retention role
`backstop-bunker-retention` (trusting only a worker role of the bunker account; it deletes only
managed copies and cannot tag), a KMS key `alias/backstop-bunker` in each region, and the bucket
for the bunker's retention reports. The documents are include/iam/bunker/*.json. In the source account: the RDS key's policy
gains the statement that lets the bunker account use it to copy shared encrypted snapshots
(include/iam/bunker/source-kms-key-statement.json).

moto keeps accounts apart by access key: the source account's dummy keys assume the bunker role
through STS (moto does not check the trust policy; tests/iam evaluates it), and the temporary
credentials it returns belong to the bunker account. Idempotent, like include/local/fleet.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

BUNKER_ACCOUNT = "210987654321"
BUNKER_ROLE = "backstop-bunker"
BUNKER_ROLE_ARN = f"arn:aws:iam::{BUNKER_ACCOUNT}:role/{BUNKER_ROLE}"
BUNKER_RETENTION_ROLE = "backstop-bunker-retention"
BUNKER_RETENTION_ROLE_ARN = f"arn:aws:iam::{BUNKER_ACCOUNT}:role/{BUNKER_RETENTION_ROLE}"
SOURCE_ROLE_NAME = "backstop"  # the source account's Backstop role (locally: the dummy keys' user)
BUNKER_EXTERNAL_ID = "backstop-bunker-local"
BUNKER_KMS_ALIAS = "alias/backstop-bunker"
BUNKER_REPORT_BUCKET = "triflow-backstop-bunker-reports"
IAM_DIR = Path(__file__).resolve().parents[2] / "include" / "iam" / "bunker"


def bunker_session(endpoint_url: str, region: str, source_client_for: Any) -> Any:
    """A boto3 session with the bunker role's temporary credentials (assumed from the source account)."""
    import boto3

    credentials = source_client_for("sts", region).assume_role(
        RoleArn=BUNKER_ROLE_ARN, RoleSessionName="backstop-seed", ExternalId=BUNKER_EXTERNAL_ID
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def placeholders(source_account: str) -> dict[str, str]:
    """The values the documents' placeholders take in the local stack (include/iam/README.md)."""
    return {
        "SOURCE_ACCOUNT_ID": source_account,
        "BUNKER_ACCOUNT_ID": BUNKER_ACCOUNT,
        "SOURCE_ROLE_NAME": SOURCE_ROLE_NAME,
        "BUNKER_EXTERNAL_ID": BUNKER_EXTERNAL_ID,
        "BUNKER_WORKER_ROLE_NAME": "backstop-bunker-worker",
        "BUNKER_BREAK_GLASS_ROLE": "bunker-break-glass",
        "BUNKER_REPORT_BUCKET": BUNKER_REPORT_BUCKET,
    }


def document(name: str, source_account: str) -> dict[str, Any]:
    """include/iam/bunker/<name> with its placeholders filled."""
    text = (IAM_DIR / name).read_text()
    for key, value in placeholders(source_account).items():
        text = text.replace(key, value)
    return json.loads(text)


def seed_bunker(
    endpoint_url: str, source_client_for: Any, regions: list[str], source_key: dict[str, str]
) -> dict[str, Any]:
    """Create (or adopt) the bunker account's role, keys and report bucket; share the source RDS key."""
    source_account = source_client_for("sts", regions[0]).get_caller_identity()["Account"]
    session = bunker_session(endpoint_url, regions[0], source_client_for)

    def bunker(service: str, region: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    iam = bunker("iam", regions[0])
    for role, what, description in (
        (BUNKER_ROLE, "bunker-copy-role", "Backstop: copy shared managed snapshots in (cannot delete)"),
        (
            BUNKER_RETENTION_ROLE,
            "bunker-retention-role",
            "Backstop: prune managed bunker copies (cannot tag)",
        ),
    ):
        try:
            iam.create_role(
                RoleName=role,
                AssumeRolePolicyDocument=json.dumps(document(f"{what}-trust.json", source_account)),
                Description=description,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
                raise
        iam.put_role_policy(
            RoleName=role,
            PolicyName=role,
            PolicyDocument=json.dumps(document(f"{what}-policy.json", source_account)),
        )
    keys = {}
    for region in regions:
        kms = bunker("kms", region)
        found = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == BUNKER_KMS_ALIAS]
        if found:
            meta = kms.describe_key(KeyId=found[0]["TargetKeyId"])["KeyMetadata"]
        else:
            meta = kms.create_key(
                Description="Backstop bunker copies",
                Policy=json.dumps(document("bunker-kms-key-policy.json", source_account)),
            )["KeyMetadata"]
            kms.create_alias(AliasName=BUNKER_KMS_ALIAS, TargetKeyId=meta["KeyId"])
        keys[region] = {"alias": BUNKER_KMS_ALIAS, "key_id": meta["KeyId"], "arn": meta["Arn"]}
    s3 = bunker("s3", regions[0])
    try:
        s3.create_bucket(
            Bucket=BUNKER_REPORT_BUCKET, CreateBucketConfiguration={"LocationConstraint": regions[0]}
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise
    s3.put_bucket_versioning(Bucket=BUNKER_REPORT_BUCKET, VersioningConfiguration={"Status": "Enabled"})

    # The source account's RDS key: its default policy plus the statement for the bunker account.
    source_kms = source_client_for("kms", regions[0])
    policy = json.loads(source_kms.get_key_policy(KeyId=source_key["key_id"], PolicyName="default")["Policy"])
    statement = document("source-kms-key-statement.json", source_account)
    if statement["Sid"] not in [s.get("Sid") for s in policy.get("Statement", [])]:
        policy.setdefault("Statement", []).append(statement)
        source_kms.put_key_policy(KeyId=source_key["key_id"], PolicyName="default", Policy=json.dumps(policy))
    return {
        "account_id": BUNKER_ACCOUNT,
        "role_arn": BUNKER_ROLE_ARN,
        "retention_role_arn": BUNKER_RETENTION_ROLE_ARN,
        "kms_keys": keys,
        "report_bucket": BUNKER_REPORT_BUCKET,
        "source_account": source_account,
    }
