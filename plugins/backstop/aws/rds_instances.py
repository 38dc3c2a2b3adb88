"""RDS DB instance calls shared by the drill operators, the sweeper and the instance trigger.

Functions take a boto3 RDS client made by the provider's RdsHook.
"""

from __future__ import annotations

from typing import Any

from backstop.aws.errors import error_code
from backstop.naming import from_tag_list

NOT_FOUND_CODES = frozenset({"DBInstanceNotFound", "DBInstanceNotFoundFault"})

# Instance states from which a restore never becomes available.
FAILED_STATES = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "incompatible-network",
        "incompatible-option-group",
        "inaccessible-encryption-credentials",
        "restore-error",
        "storage-full",
    }
)


def describe_instance(client: Any, instance_id: str) -> dict[str, Any] | None:
    """The DescribeDBInstances item for this identifier, or None when it does not exist."""
    try:
        items = client.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"]
    except Exception as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    return items[0] if items else None


def instance_tags(instance: dict[str, Any], client: Any | None = None) -> dict[str, str]:
    """The instance's tags: from the describe item when present, else ListTagsForResource."""
    if "TagList" in instance or client is None:
        return from_tag_list(instance.get("TagList"))
    return from_tag_list(client.list_tags_for_resource(ResourceName=instance["DBInstanceArn"])["TagList"])


def instance_state(client: Any, instance_id: str, target: str) -> tuple[str, str]:
    """One poll: ("success" | "pending" | "failed" | "not_found", message).

    `target` is "available" or "deleted". For "deleted", not found is success; for
    "available", a terminal state (`failed`, `incompatible-restore`, ...) is an error at once.
    """
    instance = describe_instance(client, instance_id)
    if instance is None:
        if target == "deleted":
            return "success", f"{instance_id} is gone"
        return "not_found", f"{instance_id} does not exist"
    status = instance.get("DBInstanceStatus", "?")
    if target == "available":
        if status == "available":
            return "success", f"{instance_id} is available"
        if status in FAILED_STATES:
            return "failed", f"{instance_id} is in terminal state {status!r}"
    return "pending", f"{instance_id} is {status!r}, waiting for {target}"
