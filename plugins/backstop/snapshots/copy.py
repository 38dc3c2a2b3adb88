"""Cross-region copies: which snapshots still need one in a DR region, and making them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import GENERIC_HOOK, RDS_HOOK, LazyHookClass, make_hook
from backstop.aws.kms import key_arn
from backstop.aws.rds_snapshots import SnapshotInfo, copy_snapshot, list_snapshots
from backstop.naming import POLICY_TAG, SOURCE_ARN_TAG, SOURCE_REGION_TAG, TIER_TAG, is_managed, tag_value
from backstop.snapshots.create import RdsManagedSnapshotOperator
from backstop.snapshots.guards import UnmanagedResourceError


class RdsPlanCopiesOperator(BackstopAwsOperator):
    """Find the snapshots that still need a copy in one DR region.

    For each policy that lists this DR region, the newest available managed snapshot of each
    database (per kind and policy) is a candidate; it is skipped when an available managed
    copy of the same name already exists in the destination. Only the newest is copied, so
    retention in the DR region never causes older snapshots to be copied again.

    :param destination_region: the DR region.
    :param sources: dicts {"policy", "region" (source), "kms_key_id" (this policy's key in the
        destination), "alert_channel"}, as `backstop.policy.views.copy_destinations` builds them.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("destination_region", "sources")

    def __init__(self, *, destination_region: str, sources: list[dict[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.destination_region = destination_region
        self.sources = sources

    @property
    def resource_id(self) -> str:
        """What a failure alert names: the policies whose copies to this region were being planned."""
        return (
            f"copies of {', '.join(sorted({s['policy'] for s in self.sources}))} to {self.destination_region}"
        )

    def execute(self, context: Context) -> list[dict[str, Any]]:
        by_policy = {source["policy"]: source for source in self.sources}
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
            source = by_policy[info.tags[POLICY_TAG]]
            jobs.append(
                {
                    "snapshot": info.to_xcom(),
                    "kms_key_id": source["kms_key_id"],
                    "alert_channel": source.get("alert_channel"),
                }
            )
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

    template_fields: Sequence[str] = aws_template_fields(
        *RdsManagedSnapshotOperator.template_fields, "snapshot", "destination_region", "kms_key_id"
    )
    ui_color = "#cc99ee"

    def __init__(
        self, *, snapshot: dict[str, Any], destination_region: str, kms_key_id: str, **kwargs: Any
    ) -> None:
        tags = snapshot.get("tags", {})
        kwargs.setdefault("tier", tags.get(TIER_TAG, "unknown"))
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

    def _what(self, name: str) -> str:
        return f"copy of {name} in {self.destination_region}"

    def _start(self, client: Any, name: str, context: Context) -> SnapshotInfo:
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
        return copy_snapshot(
            client,
            self.db_type,
            source_arn=self.snapshot["arn"],
            source_region=self.snapshot["region"],
            target_id=name,
            kms_key_id=self.kms_key_id,
            tags=tags,
        )

    def _expected(self) -> dict[str, Any]:
        """A copy: from the right source ARN, in the destination region, encrypted with the policy's key."""
        return {
            "source_arn": self.snapshot["arn"],
            "region": self.destination_region,
            "kms_key_id": self.kms_key_id,
            "kms_key_arn": self._expected_key_arn(),
        }

    def _expected_key_arn(self) -> str:
        """The ARN of the policy's key in the destination region (the policy may name an alias)."""
        kms = make_hook(
            GENERIC_HOOK,
            aws_conn_id=self.aws_conn_id,
            region_name=self.destination_region,
            verify=self.verify,
            botocore_config=self.botocore_config,
            client_type="kms",
        ).conn
        return key_arn(kms, self.kms_key_id)
