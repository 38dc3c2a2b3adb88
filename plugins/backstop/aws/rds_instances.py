"""RDS DB instance calls shared by the drill operators, the sweeper and the instance trigger.

Functions take a boto3 RDS client made by the provider's RdsHook (the Airflow connection
decides credentials, region, endpoint and retry mode). They speak RDS's parameter names so
that the drill slice does not: it says what to restore and with which settings, here is how.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backstop.aws.errors import error_code
from backstop.naming import from_tag_list, to_tag_list

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


def list_instances(client: Any) -> Iterator[dict[str, Any]]:
    """Every DB instance in the client's region (paginated DescribeDBInstances items)."""
    for page in client.get_paginator("describe_db_instances").paginate():
        yield from page["DBInstances"]


def earliest_automated_restore_time(client: Any, instance_id: str) -> datetime | None:
    """The earliest time the instance's automated backups can restore to, or None when RDS does not say.

    Not every account (or emulator) answers DescribeDBInstanceAutomatedBackups; callers fall
    back to the instance's own fields.
    """
    try:
        backups = client.describe_db_instance_automated_backups(DBInstanceIdentifier=instance_id).get(
            "DBInstanceAutomatedBackups", []
        )
    except Exception:
        return None
    times = [
        b["RestoreWindow"]["EarliestTime"]
        for b in backups
        if (b.get("RestoreWindow") or {}).get("EarliestTime")
    ]
    return min(times) if times else None


@dataclass(frozen=True)
class NewInstance:
    """What a restored instance gets besides its data.

    Every instance Backstop restores is private, single-AZ and without deletion protection
    (it is temporary, or kept only for an investigation); the groups are passed only when set,
    otherwise RDS uses the region's defaults.
    """

    instance_class: str
    tags: Mapping[str, str]
    subnet_group: str | None = None
    security_group_ids: Sequence[str] = ()
    parameter_group: str | None = None
    option_group: str | None = None

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "DBInstanceClass": self.instance_class,
            "PubliclyAccessible": False,
            "DeletionProtection": False,
            "MultiAZ": False,
            "Tags": to_tag_list(self.tags),
        }
        if self.subnet_group:
            args["DBSubnetGroupName"] = self.subnet_group
        if self.security_group_ids:
            args["VpcSecurityGroupIds"] = list(self.security_group_ids)
        if self.parameter_group:
            args["DBParameterGroupName"] = self.parameter_group
        if self.option_group:
            args["OptionGroupName"] = self.option_group
        return args


def restore_to_point_in_time(
    client: Any, *, source_id: str, target_id: str, restore_time: datetime | None, new: NewInstance
) -> dict[str, Any]:
    """Start a PITR restore of `source_id` into `target_id`; None = the latest restorable time."""
    when = {"UseLatestRestorableTime": True} if restore_time is None else {"RestoreTime": restore_time}
    return client.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier=source_id, TargetDBInstanceIdentifier=target_id, **when, **new.arguments()
    )["DBInstance"]


def restore_from_snapshot(
    client: Any, *, snapshot_id: str, target_id: str, new: NewInstance
) -> dict[str, Any]:
    """Start a restore of a DB snapshot (in the client's region) into `target_id`."""
    return client.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=target_id, DBSnapshotIdentifier=snapshot_id, **new.arguments()
    )["DBInstance"]


def subnet_group_exists(client: Any, name: str) -> bool:
    """True when the DB subnet group exists in the client's region (any AWS error: False)."""
    try:
        return bool(client.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"])
    except Exception as exc:
        if error_code(exc) is None:
            raise
        return False


def delete_instance(client: Any, instance: dict[str, Any]) -> bool:
    """Delete an instance (a DescribeDBInstances item) for good: no final snapshot, automated backups too.

    Deletion protection is switched off first when it is on. An instance already `deleting`
    is fine. Returns False when the instance was already gone.
    """
    identifier = instance["DBInstanceIdentifier"]
    if instance.get("DeletionProtection"):
        client.modify_db_instance(
            DBInstanceIdentifier=identifier, DeletionProtection=False, ApplyImmediately=True
        )
    try:
        client.delete_db_instance(
            DBInstanceIdentifier=identifier, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
        )
    except Exception as exc:
        code = error_code(exc)
        if code in NOT_FOUND_CODES:
            return False
        if code != "InvalidDBInstanceState" or instance.get("DBInstanceStatus") != "deleting":
            raise
    return True


def add_tags(client: Any, arn: str, tags: Mapping[str, str]) -> None:
    """Add (or overwrite) tags on an RDS resource by ARN."""
    client.add_tags_to_resource(ResourceName=arn, Tags=to_tag_list(tags))
