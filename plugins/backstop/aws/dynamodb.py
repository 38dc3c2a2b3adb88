"""Thin DynamoDB calls Backstop makes, on a boto3 client from the provider's DynamoDBHook.

Every function takes the client first and returns plain data; decisions live in
`backstop.dynamodb`. The `*_state` functions are one look for a wait: ("success" | "failed" |
"not_found" | "pending", message), like `backstop.aws.rds_snapshots.wait_status`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backstop.aws.errors import error_code

DYNAMODB_HOOK = "airflow.providers.amazon.aws.hooks.dynamodb.DynamoDBHook"

NOT_FOUND = frozenset({"ResourceNotFoundException", "TableNotFoundException", "BackupNotFoundException"})


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND


@dataclass(frozen=True)
class BackupInfo:
    """One on-demand backup as ListBackups shows it (no tags: DynamoDB backups have none)."""

    arn: str
    name: str
    table: str
    status: str  # CREATING | AVAILABLE | DELETED
    created_at: datetime
    backup_type: str  # USER | SYSTEM | AWS_BACKUP

    @classmethod
    def from_summary(cls, item: Mapping[str, Any]) -> BackupInfo:
        return cls(
            arn=item["BackupArn"],
            name=item["BackupName"],
            table=item["TableName"],
            status=item["BackupStatus"],
            created_at=item["BackupCreationDateTime"],
            backup_type=item.get("BackupType", "USER"),
        )


def describe_table(client: Any, table: str) -> dict[str, Any] | None:
    try:
        return client.describe_table(TableName=table)["Table"]
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def pitr_description(client: Any, table: str) -> dict[str, Any]:
    """The table's PointInTimeRecoveryDescription (status, earliest/latest restorable times)."""
    answer = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    return answer.get("PointInTimeRecoveryDescription") or {"PointInTimeRecoveryStatus": "DISABLED"}


def enable_pitr(client: Any, table: str) -> dict[str, Any]:
    answer = client.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )["ContinuousBackupsDescription"]
    return answer.get("PointInTimeRecoveryDescription") or {}


def list_backups(client: Any, table: str) -> list[BackupInfo]:
    """Every user-made on-demand backup of `table` in the client's region (all pages)."""
    out: list[BackupInfo] = []
    kwargs: dict[str, Any] = {"TableName": table, "BackupType": "USER"}
    while True:
        page = client.list_backups(**kwargs)
        out.extend(BackupInfo.from_summary(item) for item in page.get("BackupSummaries", []))
        last = page.get("LastEvaluatedBackupArn")
        if not last:
            return out
        kwargs["ExclusiveStartBackupArn"] = last


def list_table_names(client: Any) -> Iterator[str]:
    """Every table name in the client's region (ListTables pages)."""
    for page in client.get_paginator("list_tables").paginate():
        yield from page.get("TableNames", [])


def create_backup(client: Any, table: str, name: str) -> dict[str, Any]:
    return client.create_backup(TableName=table, BackupName=name)["BackupDetails"]


def backup_state(client: Any, arn: str) -> tuple[str, str]:
    try:
        details = client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
    except Exception as exc:
        if is_not_found(exc):
            return "not_found", f"backup {arn} not found"
        raise
    status = details["BackupStatus"]
    if status == "AVAILABLE":
        return "success", f"backup {details['BackupName']} is AVAILABLE"
    if status == "CREATING":
        return "pending", f"backup {details['BackupName']} is CREATING"
    return "failed", f"backup {details['BackupName']} is {status}"


def delete_backup(client: Any, arn: str) -> str:
    """Delete a backup; "deleted" or "gone" (already deleted counts as done)."""
    try:
        client.delete_backup(BackupArn=arn)
    except Exception as exc:
        if is_not_found(exc):
            return "gone"
        raise
    return "deleted"


def table_state(client: Any, table: str, target: str = "ACTIVE") -> tuple[str, str]:
    """One look at a table: success once it is `target` ("ACTIVE", or "DELETED" = gone)."""
    found = describe_table(client, table)
    if found is None:
        if target == "DELETED":
            return "success", f"table {table} is gone"
        return "not_found", f"table {table} not found"
    status = found.get("TableStatus", "?")
    if status == target:
        return "success", f"table {table} is {status}"
    if status in ("INACCESSIBLE_ENCRYPTION_CREDENTIALS", "ARCHIVED", "ARCHIVING"):
        return "failed", f"table {table} is {status}"
    return "pending", f"table {table} is {status}"


def export_state(client: Any, arn: str) -> tuple[str, str]:
    found = client.describe_export(ExportArn=arn)["ExportDescription"]
    status = found["ExportStatus"]
    if status == "COMPLETED":
        return "success", f"export {arn} COMPLETED ({found.get('ItemCount', '?')} items)"
    if status == "FAILED":
        return "failed", f"export {arn} FAILED: {found.get('FailureCode')} {found.get('FailureMessage')}"
    return "pending", f"export {arn} is {status}"


def import_state(client: Any, arn: str) -> tuple[str, str]:
    found = client.describe_import(ImportArn=arn)["ImportTableDescription"]
    status = found["ImportStatus"]
    if status == "COMPLETED":
        return "success", f"import {arn} COMPLETED ({found.get('ImportedItemCount', '?')} items)"
    if status in ("FAILED", "CANCELLED"):
        return "failed", f"import {arn} {status}: {found.get('FailureCode')} {found.get('FailureMessage')}"
    return "pending", f"import {arn} is {status}"


def export_to_s3(
    client: Any, *, table_arn: str, bucket: str, prefix: str, owner: str | None, client_token: str
) -> dict[str, Any]:
    """A full point-in-time export (DYNAMODB_JSON) of the table as it is now to s3://bucket/prefix.

    `client_token` makes a retry of the same export return the same export, not start another.
    """
    kwargs: dict[str, Any] = {
        "TableArn": table_arn,
        "S3Bucket": bucket,
        "S3Prefix": prefix,
        "ExportFormat": "DYNAMODB_JSON",
        "ClientToken": client_token,
    }
    if owner:
        kwargs["S3BucketOwner"] = owner
    return client.export_table_to_point_in_time(**kwargs)["ExportDescription"]


def list_tags(client: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = client.list_tags_of_resource(**kwargs)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        if not page.get("NextToken"):
            return tags
        kwargs["NextToken"] = page["NextToken"]


def iter_items(client: Any, table: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def to_attribute(value: Any) -> dict[str, str]:
    """A policy key value (str or int) as a DynamoDB AttributeValue."""
    if isinstance(value, bool):
        raise TypeError("a key value is a string or a number, not a boolean")
    if isinstance(value, int | float):
        return {"N": str(value)}
    return {"S": str(value)}


def get_item(client: Any, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    answer = client.get_item(
        TableName=table, Key={k: to_attribute(v) for k, v in key.items()}, ConsistentRead=True
    )
    return answer.get("Item")


def count_partition(client: Any, table: str, partition: Mapping[str, Any]) -> int:
    """Items of one partition key value (Select=COUNT, all pages)."""
    [(name, value)] = partition.items()
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#k = :v",
        "ExpressionAttributeNames": {"#k": name},
        "ExpressionAttributeValues": {":v": to_attribute(value)},
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    total = 0
    while True:
        page = client.query(**kwargs)
        total += page.get("Count", 0)
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def describe_ttl(client: Any, table: str) -> dict[str, Any]:
    return client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
