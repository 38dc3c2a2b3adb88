"""The drill's steps: preflight (the plan), restore, wait, verify, teardown.

A drill (policy `drills:`) proves a backup restores: it restores the source to a point in
time (`pitr`) or the newest managed DR-region copy (`dr_snapshot`) into a temporary instance
`<source>-drill-<YYYYMMDD>`, waits for it (deferrable), checks configuration parity and runs
the policy's SQL checks with psycopg, measures RTO/RPO against the objectives, and deletes
the instance (teardown, whatever happened). The evidence is written by
`backstop.drills.report`. The manual restore (`backstop.drills.manual`) reuses restore, wait
and verify with its own plan.

Every step after the planner works from the `RestorePlan` it returned (XCom). Decisions are
made by pure functions (`planning`, `verdict`); these operators look things up, act and
report. RDS calls go through `backstop.aws.rds_instances`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.airflow.operators import DeferrableAwsOperator, aws_template_fields
from backstop.aws.hooks import RDS_HOOK, LazyHookClass
from backstop.aws.rds_instances import NewInstance, describe_instance, instance_state, instance_tags
from backstop.drills.instances import is_drill_instance
from backstop.drills.plan import RestorePlan
from backstop.drills.steps import DrillInstanceOperator, PlanStepOperator, push_plan
from backstop.drills.times import iso, parse_time, tag_time
from backstop.naming import DRILL_TAG, MANAGED_TAG, RUN_ID_TAG, is_managed
from backstop.policy.drill_views import DrillSpec


class DrillFailedError(AirflowFailException):
    """The drill ran and its verdict is FAILED (a check, parity or an objective)."""


class DrillPreflightOperator(DrillInstanceOperator):
    """Check the source, clear a leftover drill instance, decide what to restore: the plan.

    Fails (without retries) when the source is missing or not available, or when an instance
    with the drill's name exists without the managed drill tags. A managed leftover (an
    earlier drill of the same date that died) is deleted first, and waited for here (the plan
    is decided in the same call, so this wait never defers).
    """

    def __init__(
        self, *, spec: DrillSpec, waiter_delay: float = 15, waiter_max_attempts: int = 120, **kwargs
    ):
        super().__init__(
            spec=spec,
            deferrable=False,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            **kwargs,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.drills import planning

        spec = self.spec
        started = datetime.now(UTC)
        source_client = self.client(spec.region)
        source = describe_instance(source_client, spec.source)
        if source is None:
            raise AirflowFailException(
                f"drill {spec.name}: source {spec.source} does not exist in {spec.region}"
            )
        if source.get("DBInstanceStatus") != "available":
            raise AirflowFailException(
                f"drill {spec.name}: source {spec.source} is {source.get('DBInstanceStatus')!r}, not available"
            )
        target = self.drill_instance(context)
        client = self.client(spec.restore_region)
        self._clear_leftover(client, target)
        if spec.kind == "pitr":
            window = self._window(source_client, source, started)
            restore = {"point": planning.drill_point_in_time(started, spec.restore_offset_seconds, window)}
        else:
            from backstop.aws.rds_snapshots import list_snapshots

            snapshots = list_snapshots(client, "instance", snapshot_type="manual")
            restore = {"snapshot": planning.newest_managed_copy(snapshots, spec)}
        plan = planning.drill_plan(
            spec, instance_id=target, run_id=str(context["run_id"]), started=started, source=source, **restore
        )
        self.log.info(
            "Drill %s: restore %s (%s, point %s) into %s in %s; expires %s",
            spec.name,
            spec.source,
            spec.kind,
            iso(plan.restore_point),
            target,
            spec.restore_region,
            tag_time(plan.expires_at),
        )
        return push_plan(context, plan)

    @staticmethod
    def _window(client: Any, source: dict[str, Any], now: datetime) -> Any:
        from backstop.aws.rds_instances import earliest_automated_restore_time
        from backstop.drills.planning import restorable_window

        earliest = earliest_automated_restore_time(client, source["DBInstanceIdentifier"])
        return restorable_window(source, earliest, now)

    def _clear_leftover(self, client: Any, target: str) -> None:
        leftover = describe_instance(client, target)
        if leftover is None:
            return
        tags = instance_tags(leftover, client)
        if not is_drill_instance(tags):
            raise AirflowFailException(
                f"an instance named {target} already exists but is not tagged {MANAGED_TAG}=true and "
                f"{DRILL_TAG}=true, so Backstop did not create it and will not delete it; rename or "
                "remove it by hand, then re-run the drill"
            )
        self.log.warning(
            "Deleting leftover drill instance %s from an earlier run (%s)", target, tags.get(RUN_ID_TAG)
        )
        state, _ = self.delete_and_wait(client, leftover)
        if state != "success":
            raise AirflowException(f"{target} was not deleted after {self.waiter_max_attempts} polls")


class DrillRestoreOperator(PlanStepOperator):
    """Create the restored instance from the plan (PITR or from the DR snapshot).

    PITR passes the source's DB subnet group, VPC security groups, parameter group and option
    group (otherwise RDS uses the defaults and the instance may be unreachable), not publicly
    accessible, no deletion protection, the plan's instance class and tags. With a local data
    plane configured (backstop.drills.dataplane) the source database is cloned for the instance.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.drills import dataplane

        plan = self.restore_plan
        client = self.client(plan.restore_region)
        target = plan.instance_id
        existing = describe_instance(client, target)
        if existing is not None:
            tags = instance_tags(existing, client)
            if not (is_managed(tags) and tags.get(RUN_ID_TAG) == plan.tags.get(RUN_ID_TAG)):
                raise AirflowFailException(
                    f"{target} exists and was not created by this run; refusing to use it"
                )
            self.log.info("Adopting %s created by an earlier try of this run", target)
            instance = existing
        else:
            instance = self._restore(client, plan)
        clone = dataplane.on_restored(target, plan.restore_region)
        if clone:
            self.log.info("Local data plane (emulation): cloned %s into database %s", plan.source, clone)
        return {
            "instance_id": target,
            "region": plan.restore_region,
            "arn": instance.get("DBInstanceArn"),
            "status": instance.get("DBInstanceStatus"),
            "requested_at": iso(datetime.now(UTC)),
        }

    def _restore(self, client: Any, plan: RestorePlan) -> dict[str, Any]:
        from backstop.aws.rds_instances import (
            restore_from_snapshot,
            restore_to_point_in_time,
            subnet_group_exists,
        )

        config = plan.source_config
        if plan.kind == "dr_snapshot":
            self.log.info(
                "Restoring %s from snapshot %s in %s",
                plan.instance_id,
                plan.snapshot.snapshot_id,
                plan.restore_region,
            )
            group = config.db_subnet_group
            # The DR network is expected to mirror the source's names (e.g. built by the same
            # Terraform); without it RDS would pick the region's default subnet group.
            new = NewInstance(
                plan.instance_class,
                plan.tags,
                subnet_group=group if group and subnet_group_exists(client, group) else None,
            )
            return restore_from_snapshot(
                client, snapshot_id=plan.snapshot.snapshot_id, target_id=plan.instance_id, new=new
            )
        new = NewInstance(
            plan.instance_class,
            plan.tags,
            subnet_group=config.db_subnet_group,
            security_group_ids=config.vpc_security_group_ids,
            parameter_group=_unless_default(config.db_parameter_group, "default."),
            option_group=_unless_default(config.option_group, "default:"),
        )
        self.log.info(
            "Restoring %s to %s into %s (subnet group %s, security groups %s, parameter group %s)",
            plan.source,
            iso(plan.restore_point),
            plan.instance_id,
            new.subnet_group,
            list(new.security_group_ids) or None,
            new.parameter_group,
        )
        return restore_to_point_in_time(
            client,
            source_id=plan.source,
            target_id=plan.instance_id,
            restore_time=None if plan.use_latest else plan.restore_time,
            new=new,
        )


def _unless_default(group: str | None, default_prefix: str) -> str | None:
    """A group the source chose; None for RDS's default one (the restore gets that anyway)."""
    return group if group and not group.startswith(default_prefix) else None


class RdsInstanceWaitOperator(DeferrableAwsOperator):
    """Wait until a DB instance is available (or gone: target="deleted"); deferrable."""

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("instance_id")

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


class DrillVerifyOperator(PlanStepOperator):
    """Configuration parity, then the SQL checks, then RTO/RPO against the objectives.

    Pushes the full result (XCom key `drill_result`) before deciding, so the report has
    every observed value even when the verdict is FAILED; then fails without retries,
    naming each failed check, parity item or missed objective.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.drills import dataplane, verdict
        from backstop.drills.checks import run_checks

        plan = self.restore_plan
        restored = describe_instance(self.client(plan.restore_region), plan.instance_id)
        if restored is None:
            raise AirflowFailException(f"{plan.instance_id} vanished before verification")
        parity_rows = verdict.parity(plan, restored)
        target = dataplane.restored_target(restored, plan.database)
        creds = self.credentials(plan)
        self.log.info("Verifying %s at %s as %s", plan.instance_id, target.describe(), creds.username)
        checks = run_checks(target, creds, plan.checks, plan.restore_point, log=self.log)
        checked_at = datetime.now(UTC)
        measurement = verdict.measure(
            started=plan.started_at, checked_at=checked_at, restore_point=plan.restore_point, checks=checks
        )
        decided = verdict.judge(
            parity_rows=parity_rows, checks=checks, measurement=measurement, objectives=plan.objectives
        )
        result = verdict.verification_record(
            plan,
            restored,
            connected_to=target.to_xcom(),
            parity_rows=parity_rows,
            checks=checks,
            checked_at=checked_at,
            measurement=measurement,
            verdict=decided,
        )
        context["ti"].xcom_push(key="drill_result", value=result)
        if not decided.passed:
            raise DrillFailedError(verdict.failure_message(plan, decided))
        self.log.info(
            "All checks passed; RTO %.1fs, RPO %.1fs", measurement.rto_seconds, measurement.rpo_seconds
        )
        return result


class DrillTeardownOperator(DrillInstanceOperator):
    """Delete the drill instance (teardown, trigger rule all_done), then wait until it is gone.

    Deletes only an instance tagged backstop:managed=true and backstop:drill=true; anything
    else with the name is left alone (preflight already failed the run for it). The name comes
    from the spec and the run's date, not the plan: a failed preflight leaves no plan.
    """

    def __init__(self, *, spec: DrillSpec, waiter_max_attempts: int = 120, **kwargs: Any) -> None:
        super().__init__(spec=spec, waiter_max_attempts=waiter_max_attempts, **kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        target = self.drill_instance(context)
        client = self.client(self.spec.restore_region)
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
        state, message = self.delete_and_wait(client, instance)
        return self._finish(target, state, message)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        return self._finish(event["instance_id"], event["status"], event["message"])

    @staticmethod
    def _finish(target: str, state: str, message: str) -> dict[str, Any]:
        if state != "success":
            raise AirflowException(f"deleting {target}: {message}")
        return {"instance_id": target, "deleted": True, "at": iso(datetime.now(UTC))}
