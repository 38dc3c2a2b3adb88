"""Sharing an RDS snapshot with another account, and copying a snapshot shared with this one.

The backup account ("bunker", backstop.bunker) copies a snapshot the source account shared with
it (`restore` attribute = the bunker's account id). The share is needed only while the copy is
made; `unshare_snapshot` removes it afterwards. Instance and cluster snapshots have parallel
calls; the names are held once here, beside `backstop.aws.rds_snapshots.SnapshotApi`.
"""

from __future__ import annotations

from typing import Any

from backstop.aws.rds_snapshots import SnapshotInfo, _info, api_for

_ATTRIBUTES = {
    "instance": (
        "describe_db_snapshot_attributes",
        "modify_db_snapshot_attribute",
        "DBSnapshotAttributesResult",
        "DBSnapshotAttributes",
    ),
    "cluster": (
        "describe_db_cluster_snapshot_attributes",
        "modify_db_cluster_snapshot_attribute",
        "DBClusterSnapshotAttributesResult",
        "DBClusterSnapshotAttributes",
    ),
}
RESTORE = "restore"


def shared_with(client: Any, db_type: str, snapshot_id: str) -> list[str]:
    """The account ids (or "all") the snapshot is shared with."""
    api = api_for(db_type)
    describe, _, result_key, list_key = _ATTRIBUTES[db_type]
    result = getattr(client, describe)(**{api.id_param: snapshot_id}).get(result_key, {})
    for attribute in result.get(list_key, []):
        if attribute.get("AttributeName") == RESTORE:
            return list(attribute.get("AttributeValues") or [])
    return []


def _modify(client: Any, db_type: str, snapshot_id: str, **change: list[str]) -> None:
    api = api_for(db_type)
    _, modify, _, _ = _ATTRIBUTES[db_type]
    getattr(client, modify)(**{api.id_param: snapshot_id, "AttributeName": RESTORE, **change})


def share_snapshot(client: Any, db_type: str, snapshot_id: str, account_id: str) -> None:
    """Let `account_id` copy (restore) this manual snapshot. Never "all": that would make it public."""
    if account_id == "all" or not account_id.isdigit():
        raise ValueError(f"refusing to share {snapshot_id} with {account_id!r}: only with one account id")
    _modify(client, db_type, snapshot_id, ValuesToAdd=[account_id])


def unshare_snapshot(client: Any, db_type: str, snapshot_id: str, account_id: str) -> bool:
    """Remove the share with `account_id`; False when it was not shared with it."""
    if account_id not in shared_with(client, db_type, snapshot_id):
        return False
    _modify(client, db_type, snapshot_id, ValuesToRemove=[account_id])
    return True


def copy_shared_snapshot(
    client: Any, db_type: str, *, source_arn: str, target_id: str, kms_key_id: str, tags: dict[str, str]
) -> SnapshotInfo:
    """Copy a snapshot another account shared with this one, in the same region, with this account's key.

    Called on the COPYING account's client. A shared snapshot is named by its ARN; no
    `SourceRegion` (same region: a presigned URL is for cross-region copies only).
    """
    api = api_for(db_type)
    response = getattr(client, api.copy)(
        **{
            api.copy_source_param: source_arn,
            api.copy_target_param: target_id,
            "KmsKeyId": kms_key_id,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
    )
    return _info(api, response[api.response_key], client)


def caller_account(sts_client: Any) -> str:
    """The account the client's credentials belong to (STS GetCallerIdentity needs no permission)."""
    return str(sts_client.get_caller_identity()["Account"])
