"""The failover drill (seed Test 1, Runbook 1): force a Multi-AZ failover on staging and measure it.

Steps, in one task: refuse anything the environment guard does not allow (a resource not
tagged `environment=staging`, not Multi-AZ, or not available: nothing is done); probe once
(the probe must work before the failover, or the drill proves nothing); start probing every
interval; `RebootDBInstance(ForceFailover=true)`; watch the instance until it is `available`
again, recording its AZ; keep probing until the client succeeds again; read the instance's RDS
events; run the data checks; judge (`verdict.judge_failover`); write the report and post the
summary (`evidence`).

Why it waits in the worker rather than deferring: the probe is the measurement of what a user
sees, and it has to run continuously from before the reboot until the client is back, with
the database credentials in memory; a trigger would need those credentials serialized into
the metadata database. A failover drill holds one worker slot for a few minutes, monthly.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Context

from backstop.aws.hooks import RDS_HOOK, LazyHookClass
from backstop.policy.resilience_views import FailoverSpec
from backstop.resilience.evidence import ResilienceDrillOperator


class DrillRefused(Exception):
    """The drill's preconditions do not hold; nothing was done."""


class FailoverDrillOperator(ResilienceDrillOperator):
    """Forced failover of one Multi-AZ DB instance, measured by the control plane and a client.

    :param spec: the drill (backstop.policy.resilience_views.FailoverSpec).
    :param waiter_delay: seconds between DescribeDBInstances calls while it fails over.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    kind = "failover"

    def __init__(
        self,
        *,
        spec: FailoverSpec,
        report_bucket: str,
        channel: str,
        waiter_delay: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            spec=spec,
            report_bucket=report_bucket,
            channel=channel,
            deferrable=False,
            waiter_delay=waiter_delay,
            **kwargs,
        )

    def resource_of(self, spec: FailoverSpec) -> str:
        return spec.instance_id

    def _preflight(self, client: Any) -> dict[str, Any]:
        from backstop.aws.rds_instances import describe_instance, instance_tags

        spec = self.spec
        instance = describe_instance(client, spec.instance_id)
        if instance is None:
            raise DrillRefused(f"DB instance {spec.instance_id} does not exist in {spec.region}")
        problem = spec.guard.problem(f"DB instance {spec.instance_id}", instance_tags(instance, client))
        if problem:
            raise DrillRefused(problem)
        if not instance.get("MultiAZ"):
            raise DrillRefused(
                f"DB instance {spec.instance_id} is not Multi-AZ: there is no standby to fail over to"
            )
        if instance.get("DBInstanceStatus") != "available":
            raise DrillRefused(
                f"DB instance {spec.instance_id} is {instance.get('DBInstanceStatus')!r}, not available"
            )
        return instance

    def run_drill(self, context: Context) -> dict[str, Any]:
        from backstop.aws.rds_failover import instance_events, reboot_with_failover
        from backstop.aws.rds_instances import describe_instance
        from backstop.drills import dataplane
        from backstop.drills.checks import credentials, run_checks
        from backstop.resilience import verdict
        from backstop.resilience.probe import Probe

        spec = self.spec
        client = self.client(spec.region)
        instance = self._preflight(client)
        before_az = instance.get("AvailabilityZone")
        # Where a client connects: the instance's endpoint (locally: its emulated database).
        target = dataplane.restored_target(instance, spec.database)
        creds = credentials(
            secret_id=spec.credentials_secret,
            conn_id=spec.credentials_conn_id,
            aws_conn_id=self.aws_conn_id,
            region_name=spec.region,
        )
        probe = Probe(target, creds, spec.probe_sql, spec.probe_interval_seconds)
        first = probe.once()
        if not first.ok:
            raise DrillRefused(f"the probe fails before any failover ({target.describe()}): {first.error}")
        self.log.info(
            "Failing over %s (now in %s); probing %s every %.1fs",
            spec.instance_id,
            before_az,
            target.describe(),
            probe.interval,
        )
        probe.start()
        requested_at = datetime.now(UTC)
        deadline = time.monotonic() + spec.timeout_seconds
        try:
            reboot_with_failover(client, spec.instance_id)
            available_at, after_az, saw = self._watch(client, before_az, deadline, describe_instance)
            while not probe.recovered() and time.monotonic() < deadline:
                time.sleep(probe.interval)
            time.sleep(probe.interval)  # one more sample after recovery, so the tail is measured
        finally:
            samples = probe.stop()
        events = instance_events(client, spec.instance_id, requested_at - timedelta(minutes=5))
        checks = []
        if spec.checks and available_at is not None:
            checks = [
                c.to_json() for c in run_checks(target, creds, spec.checks, datetime.now(UTC), log=self.log)
            ]
        result = verdict.judge_failover(
            before_az=before_az,
            after_az=after_az,
            requested_at=requested_at,
            available_at=available_at,
            events=[
                {"Date": e["Date"], "Message": e.get("Message"), "EventCategories": e.get("EventCategories")}
                for e in events
            ],
            client=verdict.client_view(samples),
            target_seconds=spec.target_seconds,
            max_downtime_seconds=spec.max_downtime_seconds,
            checks=checks,
        )
        result["statuses_seen"] = saw
        result["events"] = [
            {"at": e["Date"], "message": e.get("Message"), "categories": e.get("EventCategories")}
            for e in events
        ]
        result["probe_target"] = target.to_xcom()
        result["probe_errors"] = sorted({s.error for s in samples if s.error})[:5]
        return result

    def _watch(
        self, client: Any, before_az: str | None, deadline: float, describe: Any
    ) -> tuple[datetime | None, str | None, list[str]]:
        """Poll until the instance is available again after the reboot: (when, its AZ, statuses seen).

        "Again" means: it left `available`, or it is in another AZ. An instance that never
        leaves `available` in its AZ is watched until the timeout (a failover that never started).
        """
        seen: list[str] = []
        az = before_az
        while time.monotonic() < deadline:
            instance = describe(client, self.spec.instance_id) or {}
            status = instance.get("DBInstanceStatus")
            az = instance.get("AvailabilityZone") or az
            if not seen or seen[-1] != status:
                seen.append(status)
                self.log.info("%s: %s in %s", self.spec.instance_id, status, az)
            if status == "available" and (len(seen) > 1 or az != before_az):
                return datetime.now(UTC), az, seen
            time.sleep(self.waiter_delay)
        return None, az, seen
