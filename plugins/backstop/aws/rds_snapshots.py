"""RDS snapshot calls shared by operators and triggers, for instances and Aurora clusters alike.

The two snapshot kinds have parallel APIs with different names (DBSnapshot vs
DBClusterSnapshot, DBSnapshotNotFound vs DBClusterSnapshotNotFoundFault, ...). `SnapshotApi`
holds those names once, so the operator logic is written once. Functions take a boto3 RDS
client made by the provider's RdsHook (the Airflow connection decides credentials, region,
endpoint and retry mode); nothing here special-cases the emulator.

Never use boto3's `db_snapshot_completed` waiter: it treats "not found" as success.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from backstop.naming import from_tag_list

DbType = Literal["instance", "cluster"]

AVAILABLE = "available"
# Terminal states that mean the snapshot will never become usable.
FAILED_STATES = frozenset({"failed", "incompatible-restore", "incompatible-parameters", "error", "deleted"})


@dataclass(frozen=True)
class SnapshotApi:
    """Operation, field and error names for one snapshot kind."""

    db_type: DbType
    describe: str
    create: str
    copy: str
    delete: str
    copy_source_param: str
    copy_target_param: str
    response_list_key: str
    response_key: str
    id_param: str
    source_param: str
    id_field: str
    source_field: str
    arn_field: str
    not_found_codes: frozenset[str]
    exists_codes: frozenset[str]
    source_not_found_codes: frozenset[str]


INSTANCE = SnapshotApi(
    db_type="instance",
    describe="describe_db_snapshots",
    create="create_db_snapshot",
    copy="copy_db_snapshot",
    delete="delete_db_snapshot",
    copy_source_param="SourceDBSnapshotIdentifier",
    copy_target_param="TargetDBSnapshotIdentifier",
    response_list_key="DBSnapshots",
    response_key="DBSnapshot",
    id_param="DBSnapshotIdentifier",
    source_param="DBInstanceIdentifier",
    id_field="DBSnapshotIdentifier",
    source_field="DBInstanceIdentifier",
    arn_field="DBSnapshotArn",
    not_found_codes=frozenset({"DBSnapshotNotFound", "DBSnapshotNotFoundFault"}),
    exists_codes=frozenset({"DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault"}),
    source_not_found_codes=frozenset({"DBInstanceNotFound", "DBInstanceNotFoundFault"}),
)

CLUSTER = SnapshotApi(
    db_type="cluster",
    describe="describe_db_cluster_snapshots",
    create="create_db_cluster_snapshot",
    copy="copy_db_cluster_snapshot",
    delete="delete_db_cluster_snapshot",
    copy_source_param="SourceDBClusterSnapshotIdentifier",
    copy_target_param="TargetDBClusterSnapshotIdentifier",
    response_list_key="DBClusterSnapshots",
    response_key="DBClusterSnapshot",
    id_param="DBClusterSnapshotIdentifier",
    source_param="DBClusterIdentifier",
    id_field="DBClusterSnapshotIdentifier",
    source_field="DBClusterIdentifier",
    arn_field="DBClusterSnapshotArn",
    not_found_codes=frozenset({"DBClusterSnapshotNotFoundFault", "DBClusterSnapshotNotFound"}),
    exists_codes=frozenset({"DBClusterSnapshotAlreadyExistsFault", "DBClusterSnapshotAlreadyExists"}),
    source_not_found_codes=frozenset({"DBClusterNotFoundFault", "DBClusterNotFound"}),
)


def api_for(db_type: str) -> SnapshotApi:
    if db_type == "instance":
        return INSTANCE
    if db_type == "cluster":
        return CLUSTER
    raise ValueError(f"db_type must be 'instance' or 'cluster', got {db_type!r}")


@dataclass(frozen=True)
class SnapshotInfo:
    """The facts about one snapshot that Backstop decides on (safe to put in XCom)."""

    db_type: DbType
    snapshot_id: str
    source_id: str
    arn: str
    status: str
    region: str
    tags: dict[str, str]
    created_at: datetime | None
    encrypted: bool
    kms_key_id: str | None
    engine: str | None
    snapshot_type: str | None
    progress_percent: int | None
    # When the data was taken: RDS keeps it across copies (SnapshotCreateTime is the copy's time)
    original_created_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATES

    @property
    def available(self) -> bool:
        return self.status == AVAILABLE

    def to_xcom(self) -> dict[str, Any]:
        return {
            "db_type": self.db_type,
            "snapshot_id": self.snapshot_id,
            "source_id": self.source_id,
            "arn": self.arn,
            "status": self.status,
            "region": self.region,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "encrypted": self.encrypted,
            "kms_key_id": self.kms_key_id,
            "engine": self.engine,
            "snapshot_type": self.snapshot_type,
            "tags": dict(self.tags),
        }


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def _info(api: SnapshotApi, raw: dict[str, Any], client: Any) -> SnapshotInfo:
    tags = raw.get("TagList")
    if tags is None:  # older API responses: ask for the tags explicitly
        tags = client.list_tags_for_resource(ResourceName=raw[api.arn_field]).get("TagList", [])
    return SnapshotInfo(
        db_type=api.db_type,
        snapshot_id=raw[api.id_field],
        source_id=raw.get(api.source_field, ""),
        arn=raw.get(api.arn_field, ""),
        status=str(raw.get("Status", "unknown")).lower(),
        region=client.meta.region_name,
        tags=from_tag_list(tags),
        created_at=raw.get("SnapshotCreateTime"),
        encrypted=bool(raw.get("Encrypted") or raw.get("StorageEncrypted")),
        kms_key_id=raw.get("KmsKeyId"),
        engine=raw.get("Engine"),
        snapshot_type=raw.get("SnapshotType"),
        progress_percent=raw.get("PercentProgress"),
        original_created_at=raw.get("OriginalSnapshotCreateTime"),
    )


def describe_snapshot(client: Any, db_type: str, snapshot_id: str) -> SnapshotInfo | None:
    """The snapshot with this identifier, or None when it does not exist."""
    api = api_for(db_type)
    try:
        response = getattr(client, api.describe)(**{api.id_param: snapshot_id})
    except Exception as exc:
        if error_code(exc) in api.not_found_codes:
            return None
        raise
    items = response.get(api.response_list_key, [])
    return _info(api, items[0], client) if items else None


def create_snapshot(
    client: Any, db_type: str, source_id: str, snapshot_id: str, tags: dict[str, str]
) -> SnapshotInfo:
    """Start a manual snapshot; raises the botocore ClientError unchanged."""
    api = api_for(db_type)
    response = getattr(client, api.create)(
        **{
            api.source_param: source_id,
            api.id_param: snapshot_id,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
    )
    return _info(api, response[api.response_key], client)


def wait_status(client: Any, db_type: str, snapshot_id: str) -> tuple[str, str]:
    """One poll: ("success" | "failed" | "not_found" | "pending", human-readable message)."""
    info = describe_snapshot(client, db_type, snapshot_id)
    if info is None:
        return "not_found", f"snapshot {snapshot_id} does not exist (deleted while waiting?)"
    if info.available:
        return "success", f"snapshot {snapshot_id} is available"
    if info.failed:
        return "failed", f"snapshot {snapshot_id} ended with AWS status '{info.status}'"
    return "pending", f"snapshot {snapshot_id} is {info.status} ({info.progress_percent or 0}%)"


def copy_snapshot(
    dest_client: Any,
    db_type: str,
    *,
    source_arn: str,
    source_region: str,
    target_id: str,
    kms_key_id: str,
    tags: dict[str, str],
) -> SnapshotInfo:
    """Start a cross-region copy, called on the DESTINATION region's client.

    `SourceRegion` lets botocore presign the request for the source region; `KmsKeyId` must
    be a key in the destination region (required for encrypted sources).
    """
    api = api_for(db_type)
    response = getattr(dest_client, api.copy)(
        **{
            api.copy_source_param: source_arn,
            api.copy_target_param: target_id,
            "SourceRegion": source_region,
            "KmsKeyId": kms_key_id,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
    )
    return _info(api, response[api.response_key], dest_client)


def delete_snapshot(client: Any, db_type: str, snapshot_id: str) -> bool:
    """Delete a snapshot; False when it was already gone (deleting twice is not an error)."""
    api = api_for(db_type)
    try:
        getattr(client, api.delete)(**{api.id_param: snapshot_id})
    except Exception as exc:
        if error_code(exc) in api.not_found_codes:
            return False
        raise
    return True


def list_snapshots(client: Any, db_type: str, snapshot_type: str | None = None) -> list[SnapshotInfo]:
    """Every snapshot of one kind in the client's region (paginated; tags come with the pages)."""
    api = api_for(db_type)
    kwargs = {"SnapshotType": snapshot_type} if snapshot_type else {}
    out = []
    for page in client.get_paginator(api.describe).paginate(**kwargs):
        out += [_info(api, raw, client) for raw in page.get(api.response_list_key, [])]
    return out


def count_manual_snapshots(client: Any, db_type: str) -> int:
    """Manual snapshots of one kind in the region: what RDS's per-region quota counts."""
    return len(list_snapshots(client, db_type, snapshot_type="manual"))
