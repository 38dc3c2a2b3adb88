"""Daily manual snapshot of one Redis replication group or cache cluster: create or adopt, wait, verify.

Same contract as the RDS snapshots (backstop.snapshots.create): a deterministic name from the
run's date, managed tags at creation, a managed snapshot of that name adopted on a re-run, an
unmanaged one (or one of another source) refused and never touched, a deferrable wait, and a
final describe that checks status, tag and source.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.airflow.operators import DeferrableAwsOperator, aws_template_fields
from backstop.aws import elasticache as ec
from backstop.aws.errors import error_code
from backstop.aws.hooks import LazyHookClass
from backstop.naming import (
    CREATED_AT_TAG,
    SOURCE_TAG,
    is_managed,
    managed_tags,
    run_date,
    snapshot_name,
)
from backstop.snapshots.guards import UnmanagedResourceError


class CacheSnapshotFailedError(AirflowException):
    """The snapshot failed or vanished while Backstop waited (retried)."""


class CacheSnapshotOperator(DeferrableAwsOperator):
    """Create (or adopt) today's managed snapshot of one ElastiCache source and verify it.

    :param source_type: "replication_group" or "cache_cluster".
    :param source_id: the replication group / cache cluster id.
    :param tier: the schedule key (part of the name: `<id>-<tier>-<YYYYMMDD>`).
    :param policy_name: the elasticache policy, written to `backstop:policy`.
    :param timezone: the policy zone the run's date is taken in.
    """

    aws_hook_class = LazyHookClass(ec.ELASTICACHE_HOOK)
    template_fields = aws_template_fields("source_id")

    def __init__(
        self,
        *,
        source_id: str,
        source_type: str = "replication_group",
        tier: str,
        policy_name: str,
        timezone: str = "UTC",
        alert_channel: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if source_type not in ("replication_group", "cache_cluster"):
            raise ValueError(f"source_type must be replication_group or cache_cluster, got {source_type!r}")
        self.source_type = source_type
        self.source_id = source_id
        self.tier = tier
        self.policy_name = policy_name
        self.timezone = timezone
        self.alert_channel = alert_channel

    def _check_adoptable(self, snapshot: ec.CacheSnapshot) -> None:
        if not is_managed(snapshot.tags) or snapshot.source != "manual":
            raise UnmanagedResourceError(
                f"ElastiCache snapshot {snapshot.name} already exists but is not a manual snapshot "
                "tagged backstop:managed=true, so Backstop did not create it and will not adopt, "
                "change or delete it. Rename or remove it by hand, then re-run."
            )
        if snapshot.source_id != self.source_id:
            raise UnmanagedResourceError(
                f"ElastiCache snapshot {snapshot.name} is a managed snapshot of {snapshot.source_id!r}, "
                f"not of {self.source_id!r}; refusing to adopt it."
            )

    def execute(self, context: Context) -> dict[str, Any]:
        started = datetime.now(UTC)
        client = self.hook.conn
        name = snapshot_name(self.source_id, self.tier, run_date(context, self.timezone))
        adopted = self._create_or_adopt(client, name, context, started)
        state, message = self.wait_or_defer(
            poll=lambda: ec.snapshot_status(client, name),
            trigger=lambda: _snapshot_trigger(name, self.trigger_connection()),
            resume_kwargs={"started": started.isoformat(), "adopted": adopted},
        )
        return self._finish(name, state, message, started, adopted)

    def execute_complete(
        self, context: Context, event: dict[str, Any], started: str = "", adopted: bool = False
    ) -> dict[str, Any]:
        begun = datetime.fromisoformat(started) if started else datetime.now(UTC)
        return self._finish(event["snapshot_name"], event["status"], event["message"], begun, adopted)

    def _create_or_adopt(self, client: Any, name: str, context: Context, started: datetime) -> bool:
        existing = ec.describe_snapshot(client, name)
        if existing is not None:
            self._check_adoptable(existing)
            self.log.info("Adopting %s (%s), made earlier for this date", name, existing.status)
            return True
        if ec.describe_source(client, self.source_type, self.source_id) is None:
            raise AirflowFailException(
                f"ElastiCache {self.source_type} {self.source_id!r} does not exist in "
                f"{client.meta.region_name}; nothing to snapshot"
            )
        tags = managed_tags(
            policy=self.policy_name,
            tier=self.tier,
            run_id=str(context["run_id"]),
            extra={SOURCE_TAG: self.source_id, CREATED_AT_TAG: started.strftime(ec.TIME_FORMAT)},
        )
        self.log.info("Creating snapshot %s of %s %s", name, self.source_type, self.source_id)
        try:
            ec.create_snapshot(client, self.source_type, self.source_id, name, tags)
        except Exception as exc:
            if error_code(exc) not in ec.SNAPSHOT_EXISTS:
                raise
            existing = ec.describe_snapshot(client, name)  # made between our describe and create
            if existing is None:
                raise
            self._check_adoptable(existing)
            return True
        return False

    def _finish(
        self, name: str, state: str, message: str, started: datetime, adopted: bool
    ) -> dict[str, Any]:
        if state != "success":
            raise CacheSnapshotFailedError(f"snapshot of {self.source_id} failed: {message}")
        snapshot = ec.describe_snapshot(self.hook.conn, name)
        problems = []
        if snapshot is None:
            problems.append("it vanished after it became available")
        else:
            if snapshot.status != "available":
                problems.append(f"status is {snapshot.status!r}, expected 'available'")
            if not is_managed(snapshot.tags):
                problems.append("the backstop:managed tag is missing")
            if snapshot.source_id != self.source_id:
                problems.append(f"its source is {snapshot.source_id!r}, expected {self.source_id!r}")
        if problems:
            raise CacheSnapshotFailedError(
                f"snapshot {name} of {self.source_id} failed verification: " + "; ".join(problems)
            )
        result = snapshot.to_xcom()
        result["adopted"] = adopted
        result["duration_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 3)
        self.log.info("Verified %s: %s, %s", name, snapshot.status, "adopted" if adopted else "created")
        return result


def _snapshot_trigger(name: str, connection: dict[str, Any]) -> Any:
    from backstop.airflow.cache_triggers import CacheSnapshotAvailableTrigger

    return CacheSnapshotAvailableTrigger(snapshot_name=name, **connection)
