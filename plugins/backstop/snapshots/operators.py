"""RDS operators: find the protected databases, take managed snapshots, copy them to DR regions.

House style follows the amazon provider's operators/rds.py: AWS calls through RdsHook,
deferrable waits with a synchronous fallback, template fields for everything a run decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, DeferrableAwsOperator
from backstop.aws.hooks import RDS_HOOK, LazyHookClass
from backstop.aws.rds_snapshots import (
    SnapshotInfo,
    api_for,
    copy_snapshot,
    count_manual_snapshots,
    create_snapshot,
    describe_snapshot,
    error_code,
    list_snapshots,
    wait_status,
)
from backstop.naming import (
    POLICY_TAG,
    SOURCE_ARN_TAG,
    SOURCE_REGION_TAG,
    SOURCE_TAG,
    from_tag_list,
    is_managed,
    managed_tags,
    run_date,
    snapshot_name,
    tag_value,
)


class SnapshotFailedError(AirflowException):
    """AWS reports the snapshot failed, or it vanished while Backstop waited for it."""


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


class RdsResolveTargetsOperator(BackstopAwsOperator):
    """Turn the policy's resource list into one snapshot job per database.

    Resources named by id pass through unchanged (a missing one fails its own snapshot task,
    not the others). Tag selectors are resolved here with DescribeDBInstances /
    DescribeDBClusters in the policy's region. The output feeds `expand_kwargs` of
    `RdsManagedSnapshotOperator`. A policy that resolves to nothing fails: an empty backup run
    must not look like a successful one.

    :param targets: dicts with keys policy, tier, region, type ("rds_instance" |
        "aurora_cluster"), id or selector ({"tags": {...}}), alert_channel.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "targets")

    def __init__(self, *, targets: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = targets

    def _matching(self, region: str, db_type: str, wanted: dict[str, str]) -> list[str]:
        client = self.client(region)
        if db_type == "instance":
            pages = client.get_paginator("describe_db_instances").paginate()
            items = [(i["DBInstanceIdentifier"], i.get("TagList")) for p in pages for i in p["DBInstances"]]
        else:
            pages = client.get_paginator("describe_db_clusters").paginate()
            items = [(c["DBClusterIdentifier"], c.get("TagList")) for p in pages for c in p["DBClusters"]]
        found = []
        for identifier, tags in items:
            tag_map = from_tag_list(tags)
            if all(tag_map.get(k) == v for k, v in wanted.items()):
                found.append(identifier)
        return sorted(found)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        seen: set[tuple[str, str, str]] = set()
        for target in self.targets:
            db_type = "instance" if target["type"] == "rds_instance" else "cluster"
            if target.get("id"):
                identifiers = [target["id"]]
            else:
                wanted = target["selector"]["tags"]
                identifiers = self._matching(target["region"], db_type, wanted)
                if not identifiers:
                    self.log.warning(
                        "Policy %s: no %s in %s carries tags %s; nothing selected by it",
                        target["policy"],
                        target["type"],
                        target["region"],
                        wanted,
                    )
                else:
                    self.log.info("Policy %s: selector %s matched %s", target["policy"], wanted, identifiers)
            for identifier in identifiers:
                key = (target["region"], db_type, identifier)
                if key in seen:
                    self.log.info(
                        "%s %s already covered by an earlier policy; skipping duplicate", db_type, identifier
                    )
                    continue
                seen.add(key)
                jobs.append(
                    {
                        "db_type": db_type,
                        "db_identifier": identifier,
                        "region_name": target["region"],
                        "policy_name": target["policy"],
                        "alert_channel": target.get("alert_channel"),
                    }
                )
        if not jobs:
            raise AirflowFailException(
                "The policy selected no resources to back up (every selector matched nothing). "
                "Check the tags in include/backup_policy.yaml against the account."
            )
        for job in jobs:
            self.log.info(
                "Will snapshot %s %s in %s", job["db_type"], job["db_identifier"], job["region_name"]
            )
        return jobs


class RdsManagedSnapshotOperator(DeferrableAwsOperator):
    """Create (or adopt) a manual snapshot of an RDS instance or Aurora cluster, wait, verify.

    The snapshot is named from the run's date (`<db>-<tier>-<YYYYMMDD>`) and tagged
    `backstop:managed=true` plus policy, tier, run id and source. A retry or re-run of the
    same date adopts the managed snapshot it already made; a same-named snapshot without the
    managed tag fails the task and is left alone. A snapshot that ends `failed` fails the task
    with the AWS status. Returns the verified snapshot's facts (XCom-safe, no secrets).

    :param db_type: "instance" or "cluster".
    :param db_identifier: the DB instance or cluster to snapshot.
    :param tier: backup tier (part of the name and the tags), e.g. "weekly".
    :param policy_name: the policy that asked for it (tagged).
    :param timezone: zone in which the run's date is taken for the name.
    :param snapshot_identifier: explicit name; default derives it from the run date.
    :param alert_channel: Slack channel for this resource's failure alert (read by the callback).
    :param deferrable, waiter_delay, waiter_max_attempts: see DeferrableAwsOperator.
    :param manual_snapshot_quota: refuse to create a snapshot when the region already holds
        this many manual snapshots of the kind (RDS default 100; moto cannot report it).
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (
        *BackstopAwsOperator.template_fields,
        "db_identifier",
        "snapshot_identifier",
        "tier",
        "policy_name",
    )
    ui_color = "#eeaa88"

    def __init__(
        self,
        *,
        db_type: str,
        db_identifier: str,
        tier: str,
        policy_name: str,
        timezone: str = "UTC",
        snapshot_identifier: str | None = None,
        alert_channel: str | None = None,
        manual_snapshot_quota: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        api_for(db_type)  # fail at parse time on a bad db_type
        self.manual_snapshot_quota = manual_snapshot_quota
        self.db_type = db_type
        self.db_identifier = db_identifier
        self.tier = tier
        self.policy_name = policy_name
        self.timezone = timezone
        self.snapshot_identifier = snapshot_identifier
        self.alert_channel = alert_channel

    # --- steps ---------------------------------------------------------------------------

    def _name(self, context: Context) -> str:
        return self.snapshot_identifier or snapshot_name(
            self.db_identifier, self.tier, run_date(context, self.timezone)
        )

    def _check_adoptable(self, info: SnapshotInfo) -> None:
        if not is_managed(info.tags):
            raise UnmanagedResourceError(
                f"Snapshot {info.snapshot_id} already exists in {info.region} but is not tagged "
                "backstop:managed=true, so Backstop did not create it and will not adopt, change or "
                "delete it. Rename or remove it by hand, then re-run."
            )
        if info.source_id != self.db_identifier:
            raise UnmanagedResourceError(
                f"Snapshot {info.snapshot_id} is a managed snapshot of {info.source_id!r}, not of "
                f"{self.db_identifier!r}; refusing to adopt it."
            )

    def execute(self, context: Context) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        started = datetime.now(UTC)
        name = self._name(context)
        client = self.hook.conn
        api = api_for(self.db_type)
        info = describe_snapshot(client, self.db_type, name)
        adopted = info is not None
        if info is not None:
            self._check_adoptable(info)
            self.log.info("Adopting managed snapshot %s made earlier for this date (%s)", name, info.status)
        else:
            tags = managed_tags(
                policy=self.policy_name,
                tier=self.tier,
                run_id=str(context["run_id"]),
                extra={SOURCE_TAG: self.db_identifier},
            )
            check_quota(client, self.db_type, self.manual_snapshot_quota, f"snapshot of {self.db_identifier}")
            self.log.info("Creating %s snapshot %s of %s", self.db_type, name, self.db_identifier)
            try:
                info = create_snapshot(client, self.db_type, self.db_identifier, name, tags)
            except ClientError as exc:
                code = error_code(exc)
                if code in api.source_not_found_codes:
                    raise AirflowFailException(
                        f"RDS {self.db_type} {self.db_identifier!r} does not exist in "
                        f"{client.meta.region_name}: {exc}"
                    ) from exc
                if code not in api.exists_codes:
                    raise
                # Another try created it between our describe and create: adopt it.
                info = describe_snapshot(client, self.db_type, name)
                if info is None:
                    raise
                self._check_adoptable(info)
                adopted = True
        return self._wait_or_finish(context, name, started, adopted, info.status)

    def _wait_or_finish(
        self, context: Context, name: str, started: datetime, adopted: bool, status: str
    ) -> dict[str, Any]:
        from backstop.airflow.triggers import RdsSnapshotAvailableTrigger

        client = self.hook.conn
        state, message = self.wait_or_defer(
            poll=lambda: wait_status(client, self.db_type, name),
            trigger=lambda: RdsSnapshotAvailableTrigger(
                db_type=self.db_type, snapshot_id=name, **self.trigger_connection()
            ),
            resume_kwargs={"started": started.isoformat(), "adopted": adopted},
        )
        return self._finish(name, state, message, started, adopted)

    def execute_complete(
        self, context: Context, event: dict[str, Any], started: str = "", adopted: bool = False
    ) -> dict[str, Any]:
        """Resume after the trigger fired."""
        begun = datetime.fromisoformat(started) if started else datetime.now(UTC)
        return self._finish(event["snapshot_id"], event["status"], event["message"], begun, adopted)

    def _finish(
        self, name: str, state: str, message: str, started: datetime, adopted: bool
    ) -> dict[str, Any]:
        if state != "success":
            raise SnapshotFailedError(f"{self.db_type} snapshot of {self.db_identifier} failed: {message}")
        info = self.verify_snapshot(name)
        result = info.to_xcom()
        result["adopted"] = adopted
        result["duration_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 3)
        self.log.info(
            "Verified %s: %s, source %s, encrypted=%s, %s in %.1fs",
            name,
            info.status,
            info.source_id,
            info.encrypted,
            "adopted" if adopted else "created",
            result["duration_seconds"],
        )
        return result

    def verify_snapshot(self, name: str) -> SnapshotInfo:
        """Describe it again and check what matters: exists, available, ours, same encryption."""
        client = self.hook.conn
        info = describe_snapshot(client, self.db_type, name)
        if info is None:
            raise SnapshotFailedError(f"snapshot {name} vanished after it became available")
        problems = []
        if not info.available:
            problems.append(f"status is {info.status!r}, expected 'available'")
        if not is_managed(info.tags):
            problems.append("the backstop:managed tag is missing")
        if info.source_id != self.db_identifier:
            problems.append(f"its source is {info.source_id!r}, expected {self.db_identifier!r}")
        source_encrypted = self._source_encrypted(client)
        if source_encrypted is not None and source_encrypted != info.encrypted:
            problems.append(f"encrypted={info.encrypted} but the source has encrypted={source_encrypted}")
        if problems:
            raise SnapshotFailedError(f"snapshot {name} failed verification: " + "; ".join(problems))
        return info

    def _source_encrypted(self, client: Any) -> bool | None:
        try:
            if self.db_type == "instance":
                item = client.describe_db_instances(DBInstanceIdentifier=self.db_identifier)["DBInstances"][0]
            else:
                item = client.describe_db_clusters(DBClusterIdentifier=self.db_identifier)["DBClusters"][0]
        except Exception as exc:  # the source may be gone by now; the snapshot is what counts
            self.log.warning(
                "Could not describe source %s to compare encryption: %s", self.db_identifier, exc
            )
            return None
        return bool(item.get("StorageEncrypted"))


class RdsPlanCopiesOperator(BackstopAwsOperator):
    """Find the snapshots that still need a copy in one DR region.

    For each policy that lists this DR region, the newest available managed snapshot of each
    database (per kind and policy) is a candidate; it is skipped when an available managed
    copy of the same name already exists in the destination. Only the newest is copied, so
    retention in the DR region never causes older snapshots to be copied again.

    :param destination_region: the DR region.
    :param sources: dicts {"policy": name, "region": source region}.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "destination_region", "sources")

    def __init__(self, *, destination_region: str, sources: list[dict[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.destination_region = destination_region
        self.sources = sources

    def execute(self, context: Context) -> list[dict[str, Any]]:
        policies_by_region: dict[str, set[str]] = {}
        for source in self.sources:
            policies_by_region.setdefault(source["region"], set()).add(source["policy"])
        newest: dict[tuple[str, str, str, str], SnapshotInfo] = {}
        for region, policies in sorted(policies_by_region.items()):
            client = self.client(region)
            for db_type in ("instance", "cluster"):
                for info in list_snapshots(client, db_type, snapshot_type="manual"):
                    policy = info.tags.get(POLICY_TAG)
                    if not (is_managed(info.tags) and info.available and policy in policies):
                        continue
                    key = (region, db_type, info.source_id, policy)
                    current = newest.get(key)
                    if current is None or (info.created_at, info.snapshot_id) > (
                        current.created_at,
                        current.snapshot_id,
                    ):
                        newest[key] = info
        destination = self.client(self.destination_region)
        existing = {
            info.snapshot_id: info
            for db_type in ("instance", "cluster")
            for info in list_snapshots(destination, db_type, snapshot_type="manual")
        }
        jobs = []
        for key in sorted(newest):
            info = newest[key]
            copy = existing.get(info.snapshot_id)
            if copy is not None and copy.available and copy.tags.get(SOURCE_ARN_TAG) == info.arn:
                self.log.info("%s already copied to %s", info.snapshot_id, self.destination_region)
                continue
            self.log.info("Will copy %s (%s) to %s", info.snapshot_id, info.region, self.destination_region)
            jobs.append({"snapshot": info.to_xcom()})
        self.log.info("%d snapshot(s) to copy to %s", len(jobs), self.destination_region)
        return jobs


class RdsCrossRegionCopyOperator(RdsManagedSnapshotOperator):
    """Copy one managed snapshot to a DR region, wait for it there, verify it there.

    The copy is requested from the destination region's client with the destination's KMS
    key, keeps the snapshot's name and tags and adds `backstop:source-arn` and
    `backstop:source-region`. A re-run adopts a managed copy of the same source; a same-named
    snapshot that is not a managed copy of this source fails the task and is left alone. The
    wait is deferrable (copies can take hours); the DAG puts these tasks in a pool of 20 per
    destination region that counts deferred tasks (AWS allows 20 copies in flight).

    :param snapshot: the source snapshot's facts, as RdsPlanCopiesOperator returns them.
    :param destination_region: the DR region.
    :param kms_key_id: KMS key (id, ARN or alias) in the destination region.
    """

    template_fields: Sequence[str] = (
        *RdsManagedSnapshotOperator.template_fields,
        "snapshot",
        "destination_region",
        "kms_key_id",
    )
    ui_color = "#cc99ee"

    def __init__(
        self, *, snapshot: dict[str, Any], destination_region: str, kms_key_id: str, **kwargs: Any
    ) -> None:
        tags = snapshot.get("tags", {})
        kwargs.setdefault("tier", tags.get("backstop:tier", "unknown"))
        kwargs.setdefault("policy_name", tags.get(POLICY_TAG, "unknown"))
        super().__init__(
            db_type=snapshot["db_type"],
            db_identifier=snapshot["source_id"],
            snapshot_identifier=snapshot["snapshot_id"],
            region_name=destination_region,
            **kwargs,
        )
        self.snapshot = snapshot
        self.destination_region = destination_region
        self.kms_key_id = kms_key_id

    def _check_adoptable(self, info: SnapshotInfo) -> None:
        if not is_managed(info.tags) or info.tags.get(SOURCE_ARN_TAG) != self.snapshot["arn"]:
            raise UnmanagedResourceError(
                f"{info.snapshot_id} already exists in {self.destination_region} but is not a managed copy of "
                f"{self.snapshot['arn']}; Backstop will not adopt, change or delete it."
            )

    def execute(self, context: Context) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        started = datetime.now(UTC)
        name = self.snapshot["snapshot_id"]
        client = self.hook.conn
        api = api_for(self.db_type)
        info = describe_snapshot(client, self.db_type, name)
        adopted = info is not None
        if info is not None:
            self._check_adoptable(info)
            self.log.info("Adopting copy %s in %s (%s)", name, self.destination_region, info.status)
        else:
            check_quota(client, self.db_type, self.manual_snapshot_quota, f"copy of {name}")
            tags = {
                **self.snapshot.get("tags", {}),
                SOURCE_ARN_TAG: tag_value(self.snapshot["arn"]),
                SOURCE_REGION_TAG: self.snapshot["region"],
            }
            self.log.info(
                "Copying %s from %s to %s with KMS key %s",
                name,
                self.snapshot["region"],
                self.destination_region,
                self.kms_key_id,
            )
            try:
                info = copy_snapshot(
                    client,
                    self.db_type,
                    source_arn=self.snapshot["arn"],
                    source_region=self.snapshot["region"],
                    target_id=name,
                    kms_key_id=self.kms_key_id,
                    tags=tags,
                )
            except ClientError as exc:
                if error_code(exc) not in api.exists_codes:
                    raise
                info = describe_snapshot(client, self.db_type, name)
                if info is None:
                    raise
                self._check_adoptable(info)
                adopted = True
        return self._wait_or_finish(context, name, started, adopted, info.status)

    def verify_snapshot(self, name: str) -> SnapshotInfo:
        """Describe the copy in the destination: available, managed, right source, encrypted."""
        info = describe_snapshot(self.hook.conn, self.db_type, name)
        if info is None:
            raise SnapshotFailedError(
                f"copy {name} not found in {self.destination_region} after it became available"
            )
        problems = []
        if not info.available:
            problems.append(f"status is {info.status!r}, expected 'available'")
        if not is_managed(info.tags):
            problems.append("the backstop:managed tag is missing")
        if info.tags.get(SOURCE_ARN_TAG) != self.snapshot["arn"]:
            problems.append(
                f"backstop:source-arn is {info.tags.get(SOURCE_ARN_TAG)!r}, expected {self.snapshot['arn']!r}"
            )
        if info.region != self.destination_region:
            problems.append(f"it is in {info.region}, expected {self.destination_region}")
        if not info.encrypted:
            problems.append(f"it is not encrypted although KMS key {self.kms_key_id} was requested")
        if problems:
            raise SnapshotFailedError(
                f"copy {name} in {self.destination_region} failed verification: " + "; ".join(problems)
            )
        return info
