"""Restore drills and manual point-in-time restores: plan, restore, wait, verify, report, delete.

A drill (policy `drills:`) proves a backup restores: it restores the source to a point in
time (`pitr`) or the newest managed DR-region copy (`dr_snapshot`) into a temporary instance
`<source>-drill-<YYYYMMDD>`, waits for it (deferrable), checks configuration parity and runs
the policy's SQL checks with psycopg, measures RTO/RPO against the objectives, deletes the
instance (teardown, whatever happened) and leaves evidence: a JSON report in the report
bucket, a Slack summary, and for a passing `dr_snapshot` drill the
`backstop:restore-verified=true` tag on the snapshot it restored. (A PITR restore has no
snapshot; its evidence is the report. The source instance is not Backstop's, so it is not
tagged.)

Everything a run decides travels as a plain "plan" dict in XCom (no secrets): the planner
operators (`DrillPreflightOperator`, `ManualRestorePlanOperator`) produce it, the others
consume it, so the manual restore DAG reuses restore/wait/verify/report.

Safety: the only instances Backstop deletes carry `backstop:managed=true` AND
`backstop:drill=true`; a same-named instance without them fails the drill and is left alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, DeferrableAwsOperator
from backstop.aws.hooks import RDS_HOOK, S3_HOOK, LazyHookClass
from backstop.aws.rds_instances import describe_instance, instance_state, instance_tags
from backstop.naming import (
    RESTORE_VERIFIED_TAG,
    SOURCE_TAG,
    is_managed,
    managed_tags,
    run_date,
    to_tag_list,
)
from backstop.policy import RDS_IDENTIFIER

DRILL_TAG = "backstop:drill"
EXPIRES_TAG = "backstop:expires-at"
PURPOSE_TAG = "backstop:purpose"
RESTORE_VERIFIED_AT_TAG = "backstop:restore-verified-at"
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class DrillFailedError(AirflowFailException):
    """The drill ran and its verdict is FAILED (a check, parity or an objective)."""


class RestoreWindowError(AirflowFailException):
    """The requested restore time lies outside the source's restorable window."""


# --- plain helpers ---------------------------------------------------------------------------


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


def parse_time(value: str | datetime | None) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        when = value
    else:
        when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def tag_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def drill_instance_name(source: str, day: Any) -> str:
    name = f"{source}-drill-{day:%Y%m%d}"
    if not RDS_IDENTIFIER.match(name):
        raise AirflowFailException(
            f"drill instance name {name!r} is not a valid RDS instance identifier (at most 63 letters, "
            "digits and single hyphens); shorten the source identifier or rename the drill"
        )
    return name


def is_drill_instance(tags: dict[str, str]) -> bool:
    """Only these may be deleted by drills and the sweeper."""
    return is_managed(tags) and tags.get(DRILL_TAG) == "true"


def source_config(instance: dict[str, Any]) -> dict[str, Any]:
    """What a restore must reproduce (network, parameters) and what parity compares."""
    return {
        "instance_id": instance["DBInstanceIdentifier"],
        "arn": instance.get("DBInstanceArn"),
        "status": instance.get("DBInstanceStatus"),
        "engine": instance.get("Engine"),
        "engine_version": instance.get("EngineVersion"),
        "encrypted": bool(instance.get("StorageEncrypted")),
        "kms_key_id": instance.get("KmsKeyId"),
        "port": (instance.get("Endpoint") or {}).get("Port") or instance.get("DbInstancePort"),
        "db_subnet_group": (instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        "vpc_security_group_ids": [
            g["VpcSecurityGroupId"]
            for g in instance.get("VpcSecurityGroups") or []
            if g.get("VpcSecurityGroupId")
        ],
        "db_parameter_group": next(
            (g["DBParameterGroupName"] for g in instance.get("DBParameterGroups") or []), None
        ),
        "option_group": next(
            (g["OptionGroupName"] for g in instance.get("OptionGroupMemberships") or []), None
        ),
        "instance_create_time": iso(instance.get("InstanceCreateTime")),
        "latest_restorable_time": iso(instance.get("LatestRestorableTime")),
        "backup_retention_days": instance.get("BackupRetentionPeriod"),
    }


def restorable_window(client: Any, instance: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """(earliest, latest) restorable times of a source instance.

    Latest: LatestRestorableTime (on AWS it trails now by about 5 minutes). Earliest: the
    automated backup's RestoreWindow.EarliestTime when RDS reports it, else the later of the
    instance's creation and now minus the backup retention period.
    """
    latest = instance.get("LatestRestorableTime")
    if latest is None:
        raise AirflowFailException(
            f"{instance['DBInstanceIdentifier']} reports no LatestRestorableTime: automated backups "
            "are off (backup retention 0), so it cannot be restored to a point in time"
        )
    earliest = None
    try:
        backups = client.describe_db_instance_automated_backups(
            DBInstanceIdentifier=instance["DBInstanceIdentifier"]
        ).get("DBInstanceAutomatedBackups", [])
        times = [
            b["RestoreWindow"]["EarliestTime"]
            for b in backups
            if (b.get("RestoreWindow") or {}).get("EarliestTime")
        ]
        earliest = min(times) if times else None
    except Exception:  # not every account/emulator answers this; fall back below
        earliest = None
    if earliest is None:
        created = instance.get("InstanceCreateTime") or now
        retention = int(instance.get("BackupRetentionPeriod") or 0)
        earliest = max(created, now - timedelta(days=retention)) if retention else created
    return earliest.astimezone(UTC), latest.astimezone(UTC)


def check_spec(check: Any) -> dict[str, Any]:
    return {
        "name": check.name,
        "sql": check.sql,
        "min_rows": check.min_rows,
        "equals": check.equals,
        "max_age_seconds": check.max_age.total_seconds() if check.max_age else None,
        "freshness": check.freshness,
    }


def drill_spec(policy: Any, drill: Any) -> dict[str, Any]:
    """A policy drill as plain data for the operators (parse time, no I/O)."""
    region = drill.region or policy.defaults.region
    return {
        "name": drill.name,
        "kind": drill.kind,
        "source": drill.source,
        "region": region,
        "restore_region": drill.dr_region if drill.kind == "dr_snapshot" else region,
        "restore_offset_seconds": drill.restore_offset.total_seconds() if drill.restore_offset else None,
        "instance_class": drill.instance_class,
        "max_lifetime_seconds": drill.max_lifetime.total_seconds(),
        "database": drill.database,
        "credentials_secret": drill.credentials_secret,
        "credentials_conn_id": drill.credentials_conn_id,
        "checks": [check_spec(c) for c in drill.checks],
        "objectives": {
            "rto_seconds": drill.objectives.rto.total_seconds(),
            "rpo_seconds": drill.objectives.rpo.total_seconds(),
        },
        "timezone": policy.defaults.timezone,
    }


class _NamesItsSource:
    """`source_id` for the Slack failure alert's "Resource" field (backstop.airflow.slack)."""

    @property
    def source_id(self) -> str | None:
        for attribute in ("plan", "spec"):
            value = getattr(self, attribute, None)
            if isinstance(value, dict) and value.get("source"):
                return str(value["source"])
        return None


class _PlanStepOperator(_NamesItsSource, BackstopAwsOperator):
    """A step that works from the preflight's (or manual planner's) plan, passed as XCom."""

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "plan")

    def __init__(self, *, plan: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan


# --- planners --------------------------------------------------------------------------------


class DrillPreflightOperator(_NamesItsSource, BackstopAwsOperator):
    """Check the source, clear a leftover drill instance, decide what to restore: the plan.

    Fails (without retries) when the source is missing or not available, or when an instance
    with the drill's name exists without the managed drill tags. A managed leftover (an
    earlier drill of the same date that died) is deleted first, and waited for.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "spec")

    def __init__(
        self, *, spec: dict[str, Any], waiter_delay: float = 15, waiter_max_attempts: int = 120, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.spec = spec
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def execute(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        started = datetime.now(UTC)
        source_client = self.client(spec["region"])
        source = describe_instance(source_client, spec["source"])
        if source is None:
            raise AirflowFailException(
                f"drill {spec['name']}: source {spec['source']} does not exist in {spec['region']}"
            )
        if source.get("DBInstanceStatus") != "available":
            raise AirflowFailException(
                f"drill {spec['name']}: source {spec['source']} is {source.get('DBInstanceStatus')!r}, not available"
            )
        target = drill_instance_name(spec["source"], run_date(context, spec["timezone"]))
        client = self.client(spec["restore_region"])
        self._clear_leftover(client, target)
        expires = started + timedelta(seconds=spec["max_lifetime_seconds"])
        plan: dict[str, Any] = {
            **{k: spec[k] for k in ("name", "kind", "source", "region", "restore_region", "database")},
            **{k: spec[k] for k in ("credentials_secret", "credentials_conn_id", "checks", "objectives")},
            "instance_id": target,
            "instance_class": spec["instance_class"],
            "started_at": iso(started),
            "expires_at": tag_time(expires),
            "source_config": source_config(source),
            "tags": managed_tags(
                policy=spec["name"],
                tier="drill",
                run_id=str(context["run_id"]),
                extra={DRILL_TAG: "true", EXPIRES_TAG: tag_time(expires), SOURCE_TAG: spec["source"]},
            ),
            "notes": [],
        }
        if spec["kind"] == "pitr":
            self._plan_pitr(source_client, source, started, plan)
        else:
            self._plan_snapshot(client, plan)
        self.log.info(
            "Drill %s: restore %s (%s, point %s) into %s in %s; expires %s",
            spec["name"],
            spec["source"],
            spec["kind"],
            plan["restore_point"],
            target,
            spec["restore_region"],
            plan["expires_at"],
        )
        return plan

    def _plan_pitr(
        self, client: Any, source: dict[str, Any], started: datetime, plan: dict[str, Any]
    ) -> None:
        earliest, latest = restorable_window(client, source, started)
        offset = self.spec["restore_offset_seconds"]
        if offset is None:
            plan["use_latest"] = True
            plan["restore_point"] = iso(latest)
            plan["notes"].append("restore to the latest restorable time")
            return
        wanted = started - timedelta(seconds=offset)
        point = min(max(wanted, earliest), latest)
        if point != wanted:
            plan["notes"].append(
                f"asked for {iso(wanted)} ({offset:.0f}s before the drill started); the restorable window "
                f"is {iso(earliest)} .. {iso(latest)}, so restoring to {iso(point)}"
            )
        plan["use_latest"] = False
        plan["restore_time"] = iso(point)
        plan["restore_point"] = iso(point)

    def _plan_snapshot(self, client: Any, plan: dict[str, Any]) -> None:
        from backstop.aws.rds_snapshots import list_snapshots

        candidates = [
            s
            for s in list_snapshots(client, "instance", snapshot_type="manual")
            if s.status == "available" and is_managed(s.tags) and s.source_id == self.spec["source"]
        ]
        if not candidates:
            raise AirflowFailException(
                f"drill {self.spec['name']}: no available managed snapshot of {self.spec['source']} in "
                f"{self.spec['restore_region']} to restore (has rds_cross_region_copy run?)"
            )
        newest = max(candidates, key=lambda s: s.created_at or datetime.min.replace(tzinfo=UTC))
        plan["snapshot"] = {
            "snapshot_id": newest.snapshot_id,
            "arn": newest.arn,
            "created_at": iso(newest.created_at),
            "kms_key_id": newest.kms_key_id,
            "encrypted": newest.encrypted,
        }
        plan["restore_point"] = iso(newest.created_at)

    def _clear_leftover(self, client: Any, target: str) -> None:
        leftover = describe_instance(client, target)
        if leftover is None:
            return
        tags = instance_tags(leftover, client)
        if not is_drill_instance(tags):
            raise AirflowFailException(
                f"an instance named {target} already exists but is not tagged backstop:managed=true and "
                "backstop:drill=true, so Backstop did not create it and will not delete it; rename or "
                "remove it by hand, then re-run the drill"
            )
        self.log.warning(
            "Deleting leftover drill instance %s from an earlier run (%s)",
            target,
            tags.get("backstop:run-id"),
        )
        delete_drill_instance(client, leftover, self.log)
        wait_gone(client, target, self.waiter_delay, self.waiter_max_attempts, self.log)


class ManualRestorePlanOperator(BackstopAwsOperator):
    """Runbook 2's form, checked before anything is created: the plan of a manual PITR restore.

    Reads the run's params: source, restore_time (UTC, ISO 8601; empty = latest restorable),
    target_instance_id, instance_class, checks, tables. The restore time must lie in the
    source's restorable window; otherwise the task fails with the valid window and nothing is
    created.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)

    def __init__(
        self, *, sources: dict[str, dict[str, Any]], max_lifetime_seconds: float = 86400, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.sources = sources
        self.max_lifetime_seconds = max_lifetime_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        params = context["params"]
        self.source = params.get("source")
        self.restore_time = params.get("restore_time")
        self.target_instance_id = params.get("target_instance_id")
        self.instance_class = params.get("instance_class") or "db.t4g.medium"
        self.check_names = list(params.get("checks") or [])
        self.tables = list(params.get("tables") or [])
        started = datetime.now(UTC)
        if self.source not in self.sources:
            raise AirflowFailException(
                f"unknown source {self.source!r}; choose one of {sorted(self.sources)}"
            )
        spec = self.sources[self.source]
        bad_tables = [t for t in self.tables or [] if not _TABLE.match(t)]
        if bad_tables:
            raise AirflowFailException(f"tables must be given as schema.table in lower case: {bad_tables}")
        try:
            wanted = parse_time(self.restore_time)
        except ValueError as exc:
            raise AirflowFailException(
                f"restore time {self.restore_time!r} is not an ISO 8601 date-time: {exc}"
            ) from None
        client = self.client(spec["region"])
        source = describe_instance(client, self.source)
        if source is None:
            raise AirflowFailException(f"source {self.source} does not exist in {spec['region']}")
        earliest, latest = restorable_window(client, source, started)
        if wanted is not None and not (earliest <= wanted <= latest):
            raise RestoreWindowError(
                f"restore time {iso(wanted)} is outside the restorable window of {self.source}: "
                f"earliest {iso(earliest)}, latest {iso(latest)} (UTC). Pick a time in that window, or "
                "leave it empty for the latest restorable time. Nothing was created."
            )
        target = self.target_instance_id or f"{self.source}-restore-{started:%Y%m%d%H%M}"
        if not RDS_IDENTIFIER.match(target):
            raise AirflowFailException(f"target instance id {target!r} is not a valid RDS identifier")
        if describe_instance(client, target) is not None:
            raise AirflowFailException(f"an instance named {target} already exists; choose another target id")
        all_checks = {c["name"]: c for c in spec["checks"]}
        unknown = sorted(set(self.check_names or []) - set(all_checks))
        if unknown:
            raise AirflowFailException(f"unknown checks {unknown}; known: {sorted(all_checks)}")
        names = self.check_names if self.check_names else list(all_checks)
        expires = started + timedelta(seconds=self.max_lifetime_seconds)
        plan = {
            "name": target,
            "kind": "manual",
            "source": self.source,
            "region": spec["region"],
            "restore_region": spec["region"],
            "database": spec["database"],
            "credentials_secret": spec["credentials_secret"],
            "credentials_conn_id": spec["credentials_conn_id"],
            "checks": [all_checks[n] for n in names],
            "objectives": None,
            "instance_id": target,
            "instance_class": self.instance_class,
            "started_at": iso(started),
            "expires_at": tag_time(expires),
            "source_config": source_config(source),
            "use_latest": wanted is None,
            "restore_time": iso(wanted),
            "restore_point": iso(wanted or latest),
            "window": {"earliest": iso(earliest), "latest": iso(latest)},
            "tables": list(self.tables or []),
            "tags": managed_tags(
                policy="manual-restore",
                tier="restore",
                run_id=str(context["run_id"]),
                extra={
                    PURPOSE_TAG: "manual-restore",
                    EXPIRES_TAG: tag_time(expires),
                    SOURCE_TAG: self.source,
                },
            ),
            "notes": [],
        }
        self.log.info(
            "Restore %s to %s into %s (%s); window %s .. %s",
            self.source,
            plan["restore_point"] + (" (latest)" if wanted is None else ""),
            target,
            self.instance_class,
            plan["window"]["earliest"],
            plan["window"]["latest"],
        )
        return plan


# --- restore, wait ------------------------------------------------------------------------------


class DrillRestoreOperator(_PlanStepOperator):
    """Create the restored instance from the plan (PITR or from the DR snapshot).

    PITR passes the source's DB subnet group, VPC security groups, parameter group and option
    group (otherwise RDS uses the defaults and the instance may be unreachable), not publicly
    accessible, no deletion protection, the plan's instance class and tags. With a local data
    plane configured (backstop.drills.dataplane) the source database is cloned for the instance.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.drills import dataplane

        plan = self.plan
        client = self.client(plan["restore_region"])
        target = plan["instance_id"]
        existing = describe_instance(client, target)
        if existing is not None:
            tags = instance_tags(existing, client)
            if not (is_managed(tags) and tags.get("backstop:run-id") == plan["tags"].get("backstop:run-id")):
                raise AirflowFailException(
                    f"{target} exists and was not created by this run; refusing to use it"
                )
            self.log.info("Adopting %s created by an earlier try of this run", target)
            instance = existing
        else:
            instance = self._restore(client, plan)
        clone = dataplane.on_restored(target)
        if clone:
            self.log.info("Local data plane (emulation): cloned %s into database %s", plan["source"], clone)
        return {
            "instance_id": target,
            "region": plan["restore_region"],
            "arn": instance.get("DBInstanceArn"),
            "status": instance.get("DBInstanceStatus"),
            "requested_at": iso(datetime.now(UTC)),
        }

    def _restore(self, client: Any, plan: dict[str, Any]) -> dict[str, Any]:
        common: dict[str, Any] = {
            "DBInstanceClass": plan["instance_class"],
            "PubliclyAccessible": False,
            "DeletionProtection": False,
            "MultiAZ": False,
            "Tags": to_tag_list(plan["tags"]),
        }
        if plan["kind"] == "dr_snapshot":
            snapshot = plan["snapshot"]
            self.log.info(
                "Restoring %s from snapshot %s in %s",
                plan["instance_id"],
                snapshot["snapshot_id"],
                plan["restore_region"],
            )
            group = plan["source_config"].get("db_subnet_group")
            if group and _subnet_group_exists(client, group):
                # The DR network is expected to mirror the source's names (e.g. built by the same
                # Terraform); without it RDS would pick the region's default subnet group.
                common["DBSubnetGroupName"] = group
            return client.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=plan["instance_id"],
                DBSnapshotIdentifier=snapshot["snapshot_id"],
                **common,
            )["DBInstance"]
        config = plan["source_config"]
        if config.get("db_subnet_group"):
            common["DBSubnetGroupName"] = config["db_subnet_group"]
        if config.get("vpc_security_group_ids"):
            common["VpcSecurityGroupIds"] = config["vpc_security_group_ids"]
        if config.get("db_parameter_group") and not config["db_parameter_group"].startswith("default."):
            common["DBParameterGroupName"] = config["db_parameter_group"]
        if config.get("option_group") and not config["option_group"].startswith("default:"):
            common["OptionGroupName"] = config["option_group"]
        when = (
            {"UseLatestRestorableTime": True}
            if plan.get("use_latest")
            else {"RestoreTime": parse_time(plan["restore_time"])}
        )
        self.log.info(
            "Restoring %s to %s into %s (subnet group %s, security groups %s, parameter group %s)",
            plan["source"],
            plan["restore_point"],
            plan["instance_id"],
            common.get("DBSubnetGroupName"),
            common.get("VpcSecurityGroupIds"),
            common.get("DBParameterGroupName"),
        )
        return client.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier=plan["source"],
            TargetDBInstanceIdentifier=plan["instance_id"],
            **when,
            **common,
        )["DBInstance"]


def _subnet_group_exists(client: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        return bool(client.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"])
    except ClientError:
        return False


class RdsInstanceWaitOperator(DeferrableAwsOperator):
    """Wait until a DB instance is available (or gone: target="deleted"); deferrable."""

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "instance_id")

    def __init__(
        self,
        *,
        instance_id: str,
        target: str = "available",
        waiter_max_attempts: int = 120,
        **kwargs: Any,
    ) -> None:
        super().__init__(waiter_max_attempts=waiter_max_attempts, **kwargs)
        self.instance_id = instance_id
        self.target = target

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.airflow.triggers import RdsInstanceStateTrigger

        started = datetime.now(UTC)
        client = self.hook.conn
        state, message = self.wait_or_defer(
            poll=lambda: instance_state(client, self.instance_id, self.target),
            trigger=lambda: RdsInstanceStateTrigger(
                instance_id=self.instance_id, target=self.target, **self.trigger_connection()
            ),
            resume_kwargs={"started": iso(started)},
        )
        return self._finish(state, message, started)

    def execute_complete(self, context: Context, event: dict[str, Any], started: str = "") -> dict[str, Any]:
        return self._finish(event["status"], event["message"], parse_time(started) or datetime.now(UTC))

    def _finish(self, state: str, message: str, started: datetime) -> dict[str, Any]:
        if state != "success":
            raise AirflowFailException(f"waiting for {self.instance_id} to be {self.target}: {message}")
        seconds = round((datetime.now(UTC) - started).total_seconds(), 3)
        self.log.info("%s (waited %.1fs)", message, seconds)
        return {
            "instance_id": self.instance_id,
            "state": self.target,
            "waited_seconds": seconds,
            "at": iso(datetime.now(UTC)),
        }


# --- verify ----------------------------------------------------------------------------------


def _credentials(op: BackstopAwsOperator, plan: dict[str, Any]) -> Any:
    from backstop.drills.checks import credentials_from_connection, credentials_from_secret

    if plan.get("credentials_conn_id"):
        return credentials_from_connection(plan["credentials_conn_id"])
    return credentials_from_secret(
        plan["credentials_secret"], aws_conn_id=op.aws_conn_id, region_name=plan["region"]
    )


def parity_problems(plan: dict[str, Any], restored: dict[str, Any]) -> list[dict[str, Any]]:
    """Engine, version, encryption and KMS key of the restored instance against what it must be."""
    source = plan["source_config"]
    expected_kms = (
        (plan.get("snapshot") or {}).get("kms_key_id")
        if plan["kind"] == "dr_snapshot"
        else source.get("kms_key_id")
    )
    expected_encrypted = (
        (plan.get("snapshot") or {}).get("encrypted", source["encrypted"])
        if plan["kind"] == "dr_snapshot"
        else source["encrypted"]
    )
    rows = [
        ("engine", source.get("engine"), restored.get("Engine")),
        ("engine_version", source.get("engine_version"), restored.get("EngineVersion")),
        ("encrypted", bool(expected_encrypted), bool(restored.get("StorageEncrypted"))),
    ]
    if expected_encrypted:
        rows.append(("kms_key_id", expected_kms, restored.get("KmsKeyId")))
    return [{"name": n, "expected": e, "observed": o, "passed": e == o} for n, e, o in rows]


class DrillVerifyOperator(_PlanStepOperator):
    """Configuration parity, then the SQL checks, then RTO/RPO against the objectives.

    Pushes the full result (XCom key `drill_result`) before deciding, so the report has
    every observed value even when the verdict is FAILED; then fails without retries,
    naming each failed check, parity item or missed objective.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.drills import dataplane
        from backstop.drills.checks import run_checks

        plan = self.plan
        client = self.client(plan["restore_region"])
        restored = describe_instance(client, plan["instance_id"])
        if restored is None:
            raise AirflowFailException(f"{plan['instance_id']} vanished before verification")
        parity = parity_problems(plan, restored)
        target = dataplane.restored_target(restored, plan["database"])
        creds = _credentials(self, plan)
        restore_point = parse_time(plan["restore_point"])
        self.log.info("Verifying %s at %s as %s", plan["instance_id"], target.describe(), creds.username)
        checks = run_checks(target, creds, plan["checks"], restore_point, log=self.log)
        checked_at = datetime.now(UTC)
        started = parse_time(plan["started_at"])
        failures = [
            f"parity {p['name']}: expected {p['expected']!r}, observed {p['observed']!r}"
            for p in parity
            if not p["passed"]
        ]
        failures += [f"check {c.name}: {c.message}" for c in checks if not c.passed]
        rto = (checked_at - started).total_seconds()
        freshness = next((c for c in checks if c.freshness and c.newest), None)
        notes = list(plan.get("notes") or [])
        if freshness is not None:
            raw_rpo = (restore_point - parse_time(freshness.newest)).total_seconds()
            if raw_rpo < 0:
                notes.append(
                    f"the newest row ({freshness.newest}) is later than the restore point: the restored data "
                    "is newer than asked for, so RPO is taken as 0"
                )
            rpo = max(raw_rpo, 0.0)
            rpo_basis = f"restore point minus newest row of check {freshness.name}"
        else:
            rpo = max((started - restore_point).total_seconds(), 0.0)
            rpo_basis = "drill start minus restore point (no freshness check)"
        objectives = plan.get("objectives")
        rto_met = rpo_met = None
        if objectives:
            if not failures:
                rto_met = rto <= objectives["rto_seconds"]
                if not rto_met:
                    failures.append(f"RTO {rto:.1f}s missed the target of {objectives['rto_seconds']:.0f}s")
            rpo_met = rpo <= objectives["rpo_seconds"]
            if not rpo_met:
                failures.append(f"RPO {rpo:.1f}s missed the target of {objectives['rpo_seconds']:.0f}s")
        result = {
            "instance_id": plan["instance_id"],
            "endpoint": {
                "address": (restored.get("Endpoint") or {}).get("Address"),
                "port": (restored.get("Endpoint") or {}).get("Port"),
            },
            "connected_to": target.to_xcom(),
            "parity": parity,
            "checks": [c.to_json() for c in checks],
            "checked_at": iso(checked_at),
            "rto_seconds": round(rto, 3),
            "rpo_seconds": round(rpo, 3),
            "rpo_basis": rpo_basis,
            "rto_met": rto_met,
            "rpo_met": rpo_met,
            "passed": not failures,
            "failures": failures,
            "notes": notes,
        }
        context["ti"].xcom_push(key="drill_result", value=result)
        if failures:
            raise DrillFailedError(f"{plan['kind']} restore {plan['name']} FAILED: " + "; ".join(failures))
        self.log.info("All checks passed; RTO %.1fs, RPO %.1fs", rto, rpo)
        return result


# --- delete ---------------------------------------------------------------------------------


def delete_drill_instance(client: Any, instance: dict[str, Any], log: Any) -> None:
    """Delete a managed drill instance: no final snapshot, automated backups too.

    Deletion protection is switched off first when it is on (drills restore with it off, but an
    instance restored by hand or by an emulator that copies the source's setting may have it).
    """
    from botocore.exceptions import ClientError

    from backstop.drills import dataplane

    identifier = instance["DBInstanceIdentifier"]
    if instance.get("DeletionProtection"):
        log.info("Turning off deletion protection of %s (a managed drill instance)", identifier)
        client.modify_db_instance(
            DBInstanceIdentifier=identifier, DeletionProtection=False, ApplyImmediately=True
        )
    try:
        client.delete_db_instance(
            DBInstanceIdentifier=identifier, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "DBInstanceNotFound":
            return
        if code != "InvalidDBInstanceState" or instance.get("DBInstanceStatus") != "deleting":
            raise
    log.info("Deleting %s (skip final snapshot, delete automated backups)", identifier)
    dropped = dataplane.on_deleted(identifier)
    if dropped:
        log.info("Local data plane (emulation): dropped database %s", dropped)


def wait_gone(client: Any, instance_id: str, waiter_delay: float, waiter_max_attempts: int, log: Any) -> None:

    for attempt in range(1, waiter_max_attempts + 1):
        state, message = instance_state(client, instance_id, "deleted")
        if state == "success":
            return
        log.info("Waiting (%d/%d): %s", attempt, waiter_max_attempts, message)
        time.sleep(waiter_delay)
    raise AirflowException(f"{instance_id} was not deleted after {waiter_max_attempts} polls")


class DrillTeardownOperator(_NamesItsSource, DeferrableAwsOperator):
    """Delete the drill instance (teardown, trigger rule all_done), then wait until it is gone.

    Deletes only an instance tagged backstop:managed=true and backstop:drill=true; anything
    else with the name is left alone (preflight already failed the run for it).
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "spec")

    def __init__(
        self,
        *,
        spec: dict[str, Any],
        waiter_max_attempts: int = 120,
        **kwargs: Any,
    ) -> None:
        super().__init__(waiter_max_attempts=waiter_max_attempts, **kwargs)
        self.spec = spec

    def execute(self, context: Context) -> dict[str, Any]:
        target = drill_instance_name(self.spec["source"], run_date(context, self.spec["timezone"]))
        client = self.client(self.spec["restore_region"])
        instance = describe_instance(client, target)
        if instance is None:
            self.log.info("No instance %s: nothing to delete", target)
            return {
                "instance_id": target,
                "deleted": False,
                "reason": "not found",
                "at": iso(datetime.now(UTC)),
            }
        if not is_drill_instance(instance_tags(instance, client)):
            self.log.warning("%s is not a managed drill instance; leaving it alone", target)
            return {"instance_id": target, "deleted": False, "reason": "not a managed drill instance"}
        delete_drill_instance(client, instance, self.log)
        from backstop.airflow.triggers import RdsInstanceStateTrigger

        region = self.spec["restore_region"]
        state, message = self.wait_or_defer(
            poll=lambda: instance_state(client, target, "deleted"),
            trigger=lambda: RdsInstanceStateTrigger(
                instance_id=target, target="deleted", **self.trigger_connection(region)
            ),
        )
        if state != "success":
            raise AirflowException(f"deleting {target}: {message}")
        return {"instance_id": target, "deleted": True, "at": iso(datetime.now(UTC))}

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event["status"] != "success":
            raise AirflowException(f"deleting {event['instance_id']}: {event['message']}")
        return {"instance_id": event["instance_id"], "deleted": True, "at": iso(datetime.now(UTC))}


# --- evidence --------------------------------------------------------------------------------


class DrillReportOperator(BackstopAwsOperator):
    """Write the JSON report, tag the verified snapshot (dr_snapshot, passing), tell Slack.

    Runs whatever happened before it (trigger rule all_done). Reads what the steps left in
    XCom; the first step without a result is the one that failed.
    """

    aws_hook_class = LazyHookClass(S3_HOOK)
    regional_hook_class = LazyHookClass(RDS_HOOK)  # client(region): RDS in each region
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "spec", "task_ids")

    def __init__(
        self,
        *,
        spec: dict[str, Any],
        task_ids: dict[str, str],
        report_bucket: str,
        channel: str,
        slack_conn_id: str = "slack_api_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.task_ids = task_ids
        self.report_bucket = report_bucket
        self.channel = channel
        self.slack_conn_id = slack_conn_id

    def _pull(self, context: Context, step: str, key: str = "return_value") -> Any:
        task_id = self.task_ids.get(step)
        return context["ti"].xcom_pull(task_ids=task_id, key=key) if task_id else None

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.airflow.slack import post_message
        from backstop.reports import report_key, summary_blocks, summary_text, write_report

        plan = self._pull(context, "plan") or {}
        restored = self._pull(context, "restore")
        waited = self._pull(context, "wait")
        result = self._pull(context, "verify", "drill_result")
        deleted = self._pull(context, "teardown")
        failed_step = None
        for step, value in (("plan", plan), ("restore", restored), ("wait", waited), ("verify", result)):
            if step in self.task_ids and not value:
                failed_step = self.task_ids[step]
                break
        if failed_step is None and result and not result.get("passed"):
            failed_step = self.task_ids["verify"]
        passed = failed_step is None and bool(result and result.get("passed"))
        failures = list((result or {}).get("failures") or [])
        if not passed and not failures:
            failures = [f"task {failed_step} failed before producing a result (see its log)"]
        now = datetime.now(UTC)
        name = plan.get("name") or self.spec.get("name") or "restore"
        report: dict[str, Any] = {
            "name": name,
            "kind": plan.get("kind") or self.spec.get("kind"),
            "dag_id": context["ti"].dag_id,
            "run_id": str(context["run_id"]),
            "source": plan.get("source")
            or self.spec.get("source")
            or (context.get("params") or {}).get("source"),
            "region": plan.get("restore_region") or self.spec.get("restore_region"),
            "instance_id": plan.get("instance_id") or (deleted or {}).get("instance_id"),
            "instance_class": plan.get("instance_class"),
            "snapshot": plan.get("snapshot"),
            "started_at": plan.get("started_at"),
            "restore_point": plan.get("restore_point"),
            "window": plan.get("window"),
            "restored": restored,
            "available": waited,
            "endpoint": (result or {}).get("endpoint"),
            "connected_to": (result or {}).get("connected_to"),
            "parity": (result or {}).get("parity"),
            "checks": (result or {}).get("checks") or [],
            "rto_seconds": (result or {}).get("rto_seconds"),
            "rpo_seconds": (result or {}).get("rpo_seconds"),
            "rpo_basis": (result or {}).get("rpo_basis"),
            "objectives": plan.get("objectives"),
            "rto_met": (result or {}).get("rto_met"),
            "rpo_met": (result or {}).get("rpo_met"),
            "passed": passed,
            "failed_step": failed_step,
            "failures": failures,
            "deleted": deleted,
            "notes": (result or {}).get("notes") or plan.get("notes") or [],
            "finished_at": iso(now),
        }
        if passed and plan.get("kind") == "dr_snapshot" and plan.get("snapshot"):
            report["tagged_snapshot"] = self._tag_verified(plan, now)
        key = report_key(report["kind"] or "manual", name, str(context["run_id"]), now)
        try:
            report["report_uri"] = write_report(self.hook, self.report_bucket, key, report)
            self.log.info("Report written to %s", report["report_uri"])
        except Exception as exc:  # the Slack summary must still go out
            self.log.error("Could not write the report to s3://%s/%s: %s", self.report_bucket, key, exc)
            report["report_uri"] = None
        text = summary_text(report)
        self.log.info("%s", text)
        post_message(self.channel, text, summary_blocks(report), self.slack_conn_id)
        return report

    def _tag_verified(self, plan: dict[str, Any], now: datetime) -> str:
        client = self.client(plan["restore_region"])
        arn = plan["snapshot"]["arn"]
        client.add_tags_to_resource(
            ResourceName=arn,
            Tags=to_tag_list({RESTORE_VERIFIED_TAG: "true", RESTORE_VERIFIED_AT_TAG: tag_time(now)}),
        )
        self.log.info("Tagged %s %s=true", plan["snapshot"]["snapshot_id"], RESTORE_VERIFIED_TAG)
        return plan["snapshot"]["snapshot_id"]


# --- sweeper -----------------------------------------------------------------------------------


class DrillOrphanSweeperOperator(BackstopAwsOperator):
    """Delete drill instances whose backstop:expires-at has passed (a drill died half-way).

    Only instances tagged backstop:managed=true AND backstop:drill=true are considered; an
    expires-at that does not parse is reported and left alone. Tells Slack what it deleted.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "regions")

    def __init__(
        self, *, regions: list[str], channel: str, slack_conn_id: str = "slack_api_default", **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.regions = regions
        self.channel = channel
        self.slack_conn_id = slack_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        now = datetime.now(UTC)
        deleted, kept, problems = [], [], []
        for region in self.regions:
            client = self.client(region)
            for page in client.get_paginator("describe_db_instances").paginate():
                for instance in page["DBInstances"]:
                    identifier = instance["DBInstanceIdentifier"]
                    tags = instance_tags(instance, client)
                    if not is_drill_instance(tags):
                        continue
                    try:
                        expires = parse_time(tags.get(EXPIRES_TAG))
                    except ValueError:
                        expires = None
                    if expires is None:
                        problems.append(
                            f"{identifier} ({region}): {EXPIRES_TAG}={tags.get(EXPIRES_TAG)!r} is not a time"
                        )
                        continue
                    if expires > now:
                        kept.append({"instance_id": identifier, "region": region, "expires_at": iso(expires)})
                        continue
                    if instance.get("DBInstanceStatus") == "deleting":
                        continue
                    self.log.warning("%s in %s expired at %s: deleting", identifier, region, iso(expires))
                    delete_drill_instance(client, instance, self.log)
                    deleted.append({"instance_id": identifier, "region": region, "expired_at": iso(expires)})
        for line in problems:
            self.log.warning("%s", line)
        if deleted or problems:
            from backstop.airflow.slack import post_message

            lines = [f"• `{d['instance_id']}` in {d['region']} (expired {d['expired_at']})" for d in deleted]
            lines += [f"• left alone: {p}" for p in problems]
            text = f"Backstop drill sweeper deleted {len(deleted)} expired drill instance(s)"
            blocks = [
                {"type": "section", "text": {"type": "mrkdwn", "text": text + ":\n" + "\n".join(lines)}}
            ]
            post_message(
                self.channel,
                text + ": " + ", ".join(d["instance_id"] for d in deleted),
                blocks,
                self.slack_conn_id,
            )
        return {"deleted": deleted, "kept": kept, "problems": problems}


# --- copy-back ---------------------------------------------------------------------------------


class CopyBackOperator(_PlanStepOperator):
    """Runbook 2 option B: copy chosen tables from the restored instance into the original.

    For each `schema.table`: `pg_dump -t` from the restored database, then in ONE transaction
    on the original: move the current table into schema `backstop_before_restore_<ts>` (its
    indexes, constraints and identity sequence move with it, so nothing is lost and the names
    do not clash) and load the dump. Run only after approval. Passwords go to pg_dump/psql
    through PGPASSWORD in the child's environment, never on a command line.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.drills import dataplane

        plan = self.plan
        tables = plan.get("tables") or []
        if not tables:
            return {"copied": [], "kept_schema": None}
        client = self.client(plan["region"])
        restored = describe_instance(client, plan["instance_id"])
        original = describe_instance(client, plan["source"])
        if restored is None or original is None:
            raise AirflowFailException("both the restored instance and the original must exist for copy-back")
        src = dataplane.restored_target(restored, plan["database"])
        dst = dataplane.source_target(original, plan["database"])
        creds = _credentials(self, plan)
        keep_schema = f"backstop_before_restore_{datetime.now(UTC):%Y%m%d%H%M%S}"
        env = {**os.environ, "PGPASSWORD": creds.password, "PGCONNECT_TIMEOUT": "15"}
        with tempfile.TemporaryDirectory(prefix="backstop-copyback-") as tmp:
            script = os.path.join(tmp, "copy_back.sql")
            with open(script, "w", encoding="utf-8") as out:
                out.write(f'CREATE SCHEMA "{keep_schema}";\n')
                for table in tables:
                    schema, name = table.split(".")
                    out.write(f'ALTER TABLE "{schema}"."{name}" SET SCHEMA "{keep_schema}";\n')
            for table in tables:
                dump = os.path.join(tmp, f"{table}.sql")
                self._run(
                    [
                        dataplane.pg_bin("pg_dump"),
                        "-h",
                        src.host,
                        "-p",
                        str(src.port),
                        "-U",
                        creds.username,
                        "-d",
                        src.database,
                        "--no-owner",
                        "--no-privileges",
                        "-t",
                        table,
                        "-f",
                        dump,
                    ],
                    env,
                    f"pg_dump of {table} from {src.describe()}",
                )
                with open(script, "a", encoding="utf-8") as out, open(dump, encoding="utf-8") as dumped:
                    out.write(f"\\echo loading {table}\n")
                    out.write(dumped.read())
                    out.write("\n")
            self._run(
                [
                    dataplane.pg_bin("psql"),
                    "-h",
                    dst.host,
                    "-p",
                    str(dst.port),
                    "-U",
                    creds.username,
                    "-d",
                    dst.database,
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--single-transaction",
                    "-f",
                    script,
                ],
                env,
                f"loading into {dst.describe()}",
            )
        self.log.info(
            "Copied %s into %s; the replaced tables are kept in schema %s",
            tables,
            dst.describe(),
            keep_schema,
        )
        return {"copied": tables, "kept_schema": keep_schema, "into": dst.to_xcom()}

    def _run(self, argv: list[str], env: dict[str, str], what: str) -> None:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise AirflowException(f"{what} failed ({done.returncode}): {done.stderr.strip()[-1500:]}")


def all_drill_regions(policy: Any) -> list[str]:
    regions = {d.region or policy.defaults.region for d in policy.drills}
    regions |= {d.dr_region for d in policy.drills if d.dr_region}
    return sorted(regions)
