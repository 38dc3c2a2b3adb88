"""What stops Backstop from making or adopting a snapshot, and the errors that say why."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.aws.rds_snapshots import count_manual_snapshots


class SnapshotFailedError(AirflowException):
    """AWS reports the snapshot failed, or it vanished while Backstop waited for it (retried)."""


class UnmanagedResourceError(AirflowFailException):
    """A resource with Backstop's name exists but Backstop did not create it: never touch it."""


class QuotaExceededError(AirflowFailException):
    """Creating one more manual snapshot would exceed the region's quota."""


def check_quota(client: Any, db_type: str, quota: int | None, what: str) -> None:
    """Fail before creating when the region already holds `quota` manual snapshots of this kind."""
    if quota is None:
        return
    used = count_manual_snapshots(client, db_type)
    if used >= quota:
        kind = "DB cluster snapshots" if db_type == "cluster" else "DB snapshots"
        raise QuotaExceededError(
            f"Not creating the {what}: {client.meta.region_name} already holds {used} manual {kind}, "
            f"and the quota is {quota} (defaults.manual_snapshot_quota). Prune old snapshots "
            "(retention_prune) or raise the quota in Service Quotas and in the policy."
        )
