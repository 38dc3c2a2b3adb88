"""The seed fleet's DynamoDB part: the workflow-state table with real items, and the DR bucket.

Phase 9.1 calls DynamoDB the critical data. The table starts with PITR *off* (so the first
`dynamodb_backup` run shows the PITR enforcement turning it on), TTL and a stream on, and tags:
what a restore drops is then visible in the drill's parity findings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

WORKFLOW_TABLE = "triflow-workflow-state"
DYNAMODB_DR_BUCKET = "triflow-backstop-dynamodb-dr"
WORKFLOWS = 3
RUNS_PER_WORKFLOW = 6


def seed_items(now: datetime) -> list[dict[str, Any]]:
    """Workflows (META), their runs, and the heartbeat whose `updated_at` is the freshness probe."""
    items: list[dict[str, Any]] = []
    for w in range(1, WORKFLOWS + 1):
        pk = f"WORKFLOW#wf-{w:04d}"
        items.append({"pk": {"S": pk}, "sk": {"S": "META"}, "name": {"S": f"workflow {w}"}})
        for r in range(1, RUNS_PER_WORKFLOW + 1):
            items.append(
                {
                    "pk": {"S": pk},
                    "sk": {"S": f"RUN#{r:04d}"},
                    "status": {"S": "succeeded"},
                    "expires_at": {"N": str(int(now.timestamp()) + 90 * 86400)},
                }
            )
    items.append({"pk": {"S": "HEARTBEAT"}, "sk": {"S": "LATEST"}, "updated_at": {"S": now.isoformat()}})
    return items


def seed_dynamodb(client_for: Any, primary: str, dr: str, project: str) -> dict[str, Any]:
    """Create (or adopt) the table and the DR export bucket; (re)write the items. `client_for(service, region)`."""
    ddb = client_for("dynamodb", primary)
    try:
        ddb.create_table(
            TableName=WORKFLOW_TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            Tags=[{"Key": "project", "Value": project}, {"Key": "environment", "Value": "production"}],
        )
        ddb.update_time_to_live(
            TableName=WORKFLOW_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    items = seed_items(datetime.now(UTC))
    for item in items:
        ddb.put_item(TableName=WORKFLOW_TABLE, Item=item)
    s3 = client_for("s3", dr)
    try:
        s3.create_bucket(Bucket=DYNAMODB_DR_BUCKET, CreateBucketConfiguration={"LocationConstraint": dr})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise
    table = ddb.describe_table(TableName=WORKFLOW_TABLE)["Table"]
    return {
        "tables": {WORKFLOW_TABLE: {"arn": table["TableArn"], "items": len(items)}},
        "dr_bucket": DYNAMODB_DR_BUCKET,
    }
