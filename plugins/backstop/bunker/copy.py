"""Copies of managed snapshots in the backup account ("bunker"): plan, share, copy, verify, unshare.

Two connections: `source_conn_id` (the Backstop role in the protected account: it lists and
shares) and `aws_conn_id` (a connection whose extra has `role_arn` of the bunker role: the
provider's AwsBaseHook assumes it, so every call in the bunker account is made with the bunker's
own credentials). The copy keeps the source snapshot's name and tags, adds where it came from
(`backstop:source-arn`, `-region`, `-account`), is encrypted with the bunker's KMS key, and is
made with the same create-or-adopt, deferrable wait and verify steps as every other snapshot
(`RdsManagedSnapshotOperator`). The share exists only while the copy is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import GENERIC_HOOK, RDS_HOOK, LazyHookClass, make_hook
from backstop.aws.kms import key_arn
from backstop.aws.rds_sharing import caller_account, copy_shared_snapshot, share_snapshot, unshare_snapshot
from backstop.aws.rds_snapshots import SnapshotInfo, describe_snapshot, list_snapshots
from backstop.naming import (
    POLICY_TAG,
    SOURCE_ACCOUNT_TAG,
    SOURCE_ARN_TAG,
    SOURCE_REGION_TAG,
    TIER_TAG,
    bunker_snapshot_name,
    is_managed,
    tag_value,
)
from backstop.snapshots.create import RdsManagedSnapshotOperator
from backstop.snapshots.guards import UnmanagedResourceError


class WrongAccountError(AirflowFailException):
    """A connection reaches another account than the policy says: nothing is shared or copied."""


def check_accounts(source_sts: Any, bunker_sts: Any, bunker_account: str, bunker_conn_id: str) -> str:
    """The source account id, after checking the bunker connection really is IN the bunker account.

    A bunker connection that reaches the source account (no role_arn, a wrong role) would put the
    "bunker" copies where the attacker is, and let the bunker's retention prune source snapshots.
    """
    source = caller_account(source_sts)
    reached = caller_account(bunker_sts)
    if reached != bunker_account:
        raise WrongAccountError(
            f"Connection {bunker_conn_id!r} reaches account {reached}, not the bunker account {bunker_account} "
            "(bunker.account_id). Give it role_arn of the bunker role in its extra. Nothing was shared, "
            "copied or deleted."
        )
    if source == bunker_account:
        raise WrongAccountError(
            f"The source connection is itself in the bunker account {bunker_account}; a bunker must be a "
            "different account. Nothing was shared, copied or deleted."
        )
    return source


def wanted(info: SnapshotInfo, databases: list[dict[str, Any]]) -> bool:
    """Whether a managed snapshot belongs to a database that asked for bunker copies."""
    kind = "rds_instance" if info.db_type == "instance" else "aurora_cluster"
    return any(
        info.tags.get(POLICY_TAG) == d["policy"]
        and d.get("type") in (None, kind)
        and d.get("id") in (None, info.source_id)
        for d in databases
    )


class _BunkerMixin:
    """Clients for both accounts: `client(region)` is the bunker's; `source_client(region)` the source's."""

    aws_conn_id: str | None
    source_conn_id: str | None
    verify: Any
    botocore_config: Any

    def source_client(self, region: str, hook: str = RDS_HOOK, **kwargs: Any) -> Any:
        cache = self.__dict__.setdefault("_source_clients", {})
        key = (region, hook, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = make_hook(
                hook,
                aws_conn_id=self.source_conn_id,
                region_name=region,
                verify=self.verify,
                botocore_config=self.botocore_config,
                **kwargs,
            ).conn
        return cache[key]

    def bunker_client(self, region: str, **kwargs: Any) -> Any:
        """A client of the bunker connection (the generic hook: `client_type="sts"`, `"kms"`)."""
        cache = self.__dict__.setdefault("_bunker_clients", {})
        key = (region, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = make_hook(
                GENERIC_HOOK,
                aws_conn_id=self.aws_conn_id,
                region_name=region,
                verify=self.verify,
                botocore_config=self.botocore_config,
                **kwargs,
            ).conn
        return cache[key]

    def checked_source_account(self, region: str, bunker_account: str) -> str:
        return check_accounts(
            self.source_client(region, GENERIC_HOOK, client_type="sts"),
            self.bunker_client(region, client_type="sts"),
            bunker_account,
            str(self.aws_conn_id),
        )


class BunkerPlanCopiesOperator(_BunkerMixin, BackstopAwsOperator):
    """Which managed snapshots still need a copy in the bunker account.

    Per bunker region: the newest available managed snapshot of each database that asked for it
    (`databases`), unless an available managed copy of that very snapshot (same source ARN) is
    already in the bunker. Snapshots without `backstop:managed=true` are never candidates.

    :param aws_conn_id: the BUNKER connection (assumes the bunker role).
    :param source_conn_id: the source account's connection.
    :param bunker_account: the bunker's account id; both connections are checked first.
    :param regions: [{"region", "kms_key_id"}] as `backstop.policy.bunker_views.bunker_copy_settings` gives.
    :param databases: [{"policy", "type", "id"}]: who asked for bunker copies.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("regions", "databases", "bunker_account")

    def __init__(
        self,
        *,
        source_conn_id: str | None,
        bunker_account: str,
        regions: list[dict[str, str]],
        databases: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_conn_id = source_conn_id
        self.bunker_account = bunker_account
        self.regions = regions
        self.databases = databases

    @property
    def resource_id(self) -> str:
        """What a failure alert names."""
        return f"bunker copies to account {self.bunker_account}"

    def execute(self, context: Context) -> list[dict[str, Any]]:
        jobs = []
        for target in self.regions:
            region = target["region"]
            self.checked_source_account(region, self.bunker_account)
            newest: dict[tuple[str, str, str], SnapshotInfo] = {}
            candidates: list[SnapshotInfo] = []
            for db_type in ("instance", "cluster"):
                for info in list_snapshots(self.source_client(region), db_type, snapshot_type="manual"):
                    if not (is_managed(info.tags) and info.available and wanted(info, self.databases)):
                        continue
                    candidates.append(info)
                    key = (db_type, info.source_id, info.tags.get(POLICY_TAG, ""))
                    current = newest.get(key)
                    if current is None or (info.created_at, info.snapshot_id) > (
                        current.created_at,
                        current.snapshot_id,
                    ):
                        newest[key] = info
            in_bunker = {
                info.snapshot_id: info
                for db_type in ("instance", "cluster")
                for info in list_snapshots(self.client(region), db_type, snapshot_type="manual")
            }
            for key in sorted(newest):
                info = newest[key]
                copy = in_bunker.get(bunker_snapshot_name(info.snapshot_id))
                if copy is not None and copy.available and copy.tags.get(SOURCE_ARN_TAG) == info.arn:
                    self.log.info("%s already has its bunker copy in %s", info.snapshot_id, region)
                    continue
                self.log.info("Will copy %s to the bunker account in %s", info.snapshot_id, region)
                jobs.append({"snapshot": info.to_xcom(), "kms_key_id": target["kms_key_id"]})
            self._revoke_leftover_shares(region, candidates, {j["snapshot"]["arn"] for j in jobs})
        self.log.info("%d snapshot(s) to copy to the bunker account %s", len(jobs), self.bunker_account)
        return jobs

    def _revoke_leftover_shares(self, region: str, candidates: list[SnapshotInfo], planned: set[str]) -> None:
        """A copy task killed mid-wait leaves its share: remove it from every snapshot not copied now.

        One DescribeDBSnapshotAttributes per managed snapshot of an opted-in database (tens, not
        thousands); the DAG runs one at a time (max_active_runs=1), so no other run's copy needs them.
        """
        client = self.source_client(region)
        for info in candidates:
            if info.arn in planned:
                continue
            if unshare_snapshot(client, info.db_type, info.snapshot_id, self.bunker_account):
                self.log.warning(
                    "Removed a leftover share of %s with %s", info.snapshot_id, self.bunker_account
                )


class BunkerCopyOperator(_BunkerMixin, RdsManagedSnapshotOperator):
    """Copy one managed snapshot into the bunker account, wait there, verify there, remove the share.

    Before anything: both connections are checked (the bunker connection must reach
    `bunker_account`, the source must be another account), and the source snapshot is described
    again with the source connection: it must still be a managed, manual, available snapshot with
    the planned ARN; otherwise it is refused, never shared or copied. Then it is shared with the
    bunker account (restore attribute), copied by the bunker with `kms_key_id` (the bunker's key,
    in the snapshot's region), and the share is removed once the copy is verified or has failed.
    A re-run adopts a managed copy of the same source; a same-named snapshot in the bunker that is
    not one fails the task and is left alone.

    :param aws_conn_id: the BUNKER connection (assumes the bunker role).
    :param source_conn_id: the source account's connection.
    :param snapshot: the source snapshot's facts, as BunkerPlanCopiesOperator returns them.
    :param kms_key_id: the bunker account's key in the snapshot's region.
    :param bunker_account: the bunker's account id.
    """

    template_fields: Sequence[str] = aws_template_fields(
        *RdsManagedSnapshotOperator.template_fields, "snapshot", "kms_key_id", "bunker_account"
    )
    ui_color = "#99bbcc"
    #: `_finish` removes the share in the source account: it runs on a worker, never in the trigger
    ends_in_trigger = False

    def __init__(
        self,
        *,
        source_conn_id: str | None,
        snapshot: dict[str, Any],
        kms_key_id: str,
        bunker_account: str,
        **kwargs: Any,
    ) -> None:
        tags = snapshot.get("tags", {})
        kwargs.setdefault("tier", tags.get(TIER_TAG, "unknown"))
        kwargs.setdefault("policy_name", tags.get(POLICY_TAG, "unknown"))
        # The copy is made in the snapshot's own region (a share is visible only there).
        kwargs["region_name"] = kwargs.get("region_name") or snapshot.get("region")
        super().__init__(
            db_type=snapshot["db_type"],
            db_identifier=snapshot["source_id"],
            snapshot_identifier=bunker_snapshot_name(snapshot["snapshot_id"]),
            **kwargs,
        )
        self.source_conn_id = source_conn_id
        self.snapshot = snapshot
        self.kms_key_id = kms_key_id
        self.bunker_account = bunker_account

    @property
    def resource_id(self) -> str:
        return f"bunker copy of {self.snapshot['snapshot_id']}"

    def _what(self, name: str) -> str:
        return f"bunker copy of {name} (account {self.bunker_account}, {self.region_name})"

    # --- before anything is shared ------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        self.source_account = self.checked_source_account(self.region_name, self.bunker_account)
        self._check_source()
        return super().execute(context)

    def _check_source(self) -> SnapshotInfo:
        """The source snapshot must still be what was planned: managed, manual, available, same ARN."""
        info = describe_snapshot(
            self.source_client(self.region_name), self.db_type, self.snapshot["snapshot_id"]
        )
        problems = []
        if info is None:
            problems.append("it no longer exists")
        else:
            if not is_managed(info.tags):
                problems.append("it is not tagged backstop:managed=true (Backstop did not make it)")
            if (info.snapshot_type or "manual").lower() != "manual":
                problems.append(f"it is a {info.snapshot_type} snapshot, not manual")
            if info.arn != self.snapshot["arn"]:
                problems.append(f"its ARN is {info.arn}, not the planned {self.snapshot['arn']}")
            if not info.available:
                problems.append(f"it is {info.status}, not available")
        if problems:
            raise UnmanagedResourceError(
                f"Refusing to share or copy {self.snapshot['snapshot_id']} in {self.region_name}: "
                + "; ".join(problems)
                + ". Nothing was shared or copied."
            )
        return info

    # --- the copy -----------------------------------------------------------------------------

    def _check_adoptable(self, info: SnapshotInfo) -> None:
        if not is_managed(info.tags) or info.tags.get(SOURCE_ARN_TAG) != self.snapshot["arn"]:
            raise UnmanagedResourceError(
                f"{info.snapshot_id} already exists in the bunker account ({self.region_name}) but is not a "
                f"managed copy of {self.snapshot['arn']}; Backstop will not adopt, change or delete it."
            )

    def _start(self, client: Any, name: str, context: Context) -> SnapshotInfo:
        source = self.source_client(self.region_name)
        self.log.info(
            "Sharing %s with the bunker account %s", self.snapshot["snapshot_id"], self.bunker_account
        )
        share_snapshot(source, self.db_type, self.snapshot["snapshot_id"], self.bunker_account)
        tags = {
            **self.snapshot.get("tags", {}),
            SOURCE_ARN_TAG: tag_value(self.snapshot["arn"]),
            SOURCE_REGION_TAG: self.snapshot["region"],
            SOURCE_ACCOUNT_TAG: self.source_account,
        }
        self.log.info("Copying %s into the bunker account with KMS key %s", name, self.kms_key_id)
        try:
            return copy_shared_snapshot(
                client,
                self.db_type,
                source_arn=self.snapshot["arn"],
                target_id=name,
                kms_key_id=self.kms_key_id,
                tags=tags,
            )
        except Exception:
            self._unshare()
            raise

    def _finish(self, name: str, state: str, message: str, started: Any, adopted: bool) -> dict[str, Any]:
        try:
            result = super()._finish(name, state, message, started, adopted)
        finally:
            if state != "pending":
                self._unshare()
        result["bunker_account"] = self.bunker_account
        result["source_arn"] = self.snapshot["arn"]
        return result

    def _unshare(self) -> None:
        """The bunker copy does not need the share: remove it (idempotent)."""
        if unshare_snapshot(
            self.source_client(self.region_name),
            self.db_type,
            self.snapshot["snapshot_id"],
            self.bunker_account,
        ):
            self.log.info(
                "Removed the share of %s with %s", self.snapshot["snapshot_id"], self.bunker_account
            )

    # --- verification in the bunker -----------------------------------------------------------

    def _expected(self) -> dict[str, Any]:
        """In the bunker account and region, a copy of the planned source, encrypted with the bunker key."""
        return {
            "source_arn": self.snapshot["arn"],
            "account": self.bunker_account,
            "region": self.region_name,
            "kms_key_id": self.kms_key_id,
            "kms_key_arn": key_arn(self.bunker_client(self.region_name, client_type="kms"), self.kms_key_id),
        }
