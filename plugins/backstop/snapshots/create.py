"""Managed snapshots: create (or adopt) one, wait for it, verify it.

House style follows the amazon provider's operators/rds.py: AWS calls through RdsHook,
deferrable waits with a synchronous fallback, template fields for everything a run decides.
The create-or-adopt flow is written once here; the cross-region copy (snapshots/copy.py)
only says how it starts a snapshot and what makes an existing one its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import DeferrableAwsOperator, aws_template_fields
from backstop.aws.errors import error_code
from backstop.aws.hooks import RDS_HOOK, LazyHookClass
from backstop.aws.rds_databases import storage_encrypted
from backstop.aws.rds_snapshots import SnapshotInfo, api_for, create_snapshot, describe_snapshot, wait_status
from backstop.naming import SOURCE_TAG, is_managed, managed_tags, run_date, snapshot_name
from backstop.snapshots.guards import SnapshotFailedError, UnmanagedResourceError, check_quota
from backstop.snapshots.verify import snapshot_problems, verified_result


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
    :param conflict: set when two policies select this database: the snapshot is made (the
        backup matters most) and then the task fails with this message.
    :param manual_snapshot_quota: refuse to create a snapshot when the region already holds
        this many manual snapshots of the kind (RDS default 100; moto cannot report it).
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields(
        "db_identifier", "snapshot_identifier", "tier", "policy_name"
    )
    #: the trigger may verify the snapshot and end the task (no second run on a worker)
    ends_in_trigger: bool = True
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
        conflict: str | None = None,
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
        self.conflict = conflict

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

    def _start(self, client: Any, name: str, context: Context) -> SnapshotInfo:
        """Ask AWS for the snapshot (a copy overrides this); raises botocore's ClientError unchanged."""
        tags = managed_tags(
            policy=self.policy_name,
            tier=self.tier,
            run_id=str(context["run_id"]),
            extra={SOURCE_TAG: self.db_identifier},
        )
        self.log.info("Creating %s snapshot %s of %s", self.db_type, name, self.db_identifier)
        return create_snapshot(client, self.db_type, self.db_identifier, name, tags)

    def execute(self, context: Context) -> dict[str, Any]:
        started = datetime.now(UTC)
        name = self._name(context)
        info, adopted = self._create_or_adopt(self.hook.conn, name, context)
        return self._wait_or_finish(context, name, started, adopted, info.status)

    def _create_or_adopt(self, client: Any, name: str, context: Context) -> tuple[SnapshotInfo, bool]:
        """(the snapshot, adopted?): adopt one of ours with this name, else check the quota and start one."""
        from botocore.exceptions import ClientError

        api = api_for(self.db_type)
        info = describe_snapshot(client, self.db_type, name)
        if info is not None:
            self._check_adoptable(info)
            self.log.info(
                "Adopting %s in %s, made earlier for this date (%s)", name, info.region, info.status
            )
            return info, True
        check_quota(client, self.db_type, self.manual_snapshot_quota, self._what(name))
        try:
            return self._start(client, name, context), False
        except ClientError as exc:
            code = error_code(exc)
            if code in api.source_not_found_codes:
                raise AirflowFailException(
                    f"RDS {self.db_type} {self.db_identifier!r} does not exist in "
                    f"{client.meta.region_name}: {exc}"
                ) from exc
            if code not in api.exists_codes:
                raise
            # Another try created it between our describe and our request: adopt it.
            info = describe_snapshot(client, self.db_type, name)
            if info is None:
                raise
            self._check_adoptable(info)
            return info, True

    def _what(self, name: str) -> str:
        return f"snapshot of {self.db_identifier}"

    def _wait_or_finish(
        self, context: Context, name: str, started: datetime, adopted: bool, status: str
    ) -> dict[str, Any]:
        from backstop.airflow.triggers import RdsSnapshotAvailableTrigger

        client = self.hook.conn
        state, message = self.wait_or_defer(
            poll=lambda: wait_status(client, self.db_type, name),
            trigger=lambda: RdsSnapshotAvailableTrigger(
                db_type=self.db_type,
                snapshot_id=name,
                finish=self._trigger_finish(started, adopted),
                **self.trigger_connection(),
            ),
            resume_kwargs={"started": started.isoformat(), "adopted": adopted},
        )
        return self._finish(name, state, message, started, adopted)

    def _trigger_finish(self, started: datetime, adopted: bool) -> dict[str, Any] | None:
        """What the trigger needs to verify the snapshot and end the task itself (None: resume here).

        A task that must fail after its snapshot (`conflict`) always resumes on a worker, and so
        does one of a class whose `_finish` or `_problems` must run there (`ends_in_trigger`).
        """
        if self.conflict or not self.ends_in_trigger:
            return None
        return {"expected": self._expected(), "adopted": adopted, "started": started.isoformat()}

    def execute_complete(
        self, context: Context, event: dict[str, Any] | str, started: str = "", adopted: bool = False
    ) -> dict[str, Any]:
        """Resume after the trigger fired (it ends the task itself when the snapshot verified).

        `airflow dags test` resumes even a task its trigger ended, with only the event's state
        (a string): then describe and verify here, as the trigger did.
        """
        begun = datetime.fromisoformat(started) if started else datetime.now(UTC)
        if not isinstance(event, dict):
            return self._finish(self._name(context), "success", str(event), begun, adopted)
        return self._finish(event["snapshot_id"], event["status"], event["message"], begun, adopted)

    def _finish(
        self, name: str, state: str, message: str, started: datetime, adopted: bool
    ) -> dict[str, Any]:
        if state != "success":
            raise SnapshotFailedError(f"{self.db_type} snapshot of {self.db_identifier} failed: {message}")
        info = self.verify_snapshot(name)
        result = verified_result(info, adopted=adopted, started=started)
        self.log.info(
            "Verified %s: %s, source %s, encrypted=%s, %s in %.1fs",
            name,
            info.status,
            info.source_id,
            info.encrypted,
            "adopted" if adopted else "created",
            result["duration_seconds"],
        )
        if self.conflict:
            raise AirflowFailException(f"{self.conflict} (Snapshot {name} was made and verified.)")
        return result

    def verify_snapshot(self, name: str) -> SnapshotInfo:
        """Describe it again and check it against `_expected()` (backstop.snapshots.verify)."""
        info = describe_snapshot(self.hook.conn, self.db_type, name)
        if info is None:
            raise SnapshotFailedError(f"snapshot {name} vanished after it became available")
        problems = self._problems(info)
        if problems:
            raise SnapshotFailedError(f"{self._what(name)} failed verification: " + "; ".join(problems))
        return info

    def _problems(self, info: SnapshotInfo) -> list[str]:
        """Everything wrong with the finished snapshot: the one check the trigger runs too.

        A subclass that checks more here must set `ends_in_trigger = False`, or put its checks
        into `_expected` and backstop.snapshots.verify, which the trigger also runs.
        """
        return snapshot_problems(info, self._expected())

    def _expected(self) -> dict[str, Any]:
        """What a snapshot of the source must show (JSON): the right source, the same encryption."""
        expected: dict[str, Any] = {"source_id": self.db_identifier, "source_encrypted": None}
        try:
            expected["source_encrypted"] = storage_encrypted(self.hook.conn, self.db_type, self.db_identifier)
        except Exception as exc:  # the source may be gone by now; the snapshot is what counts
            self.log.warning(
                "Could not describe source %s to compare encryption: %s", self.db_identifier, exc
            )
        return expected
