"""The failover drill (seed Test 1, Runbook 1): force a failover on staging and measure it.

The subject is a Multi-AZ DB instance or an Aurora DB cluster (failover_subjects.py). Steps,
in one task: refuse anything the environment guard does not allow (a resource not tagged
`environment=staging`, without a standby or reader, or not available: nothing is done); probe
once (the probe must work before the failover, or the drill proves nothing); start probing
every interval; `RebootDBInstance(ForceFailover=true)` or `FailoverDBCluster`; watch it until
it is `available` again, recording its AZ (and the cluster's writer); keep probing until the
client succeeds again; read its RDS events; run the data checks; judge
(`verdict.judge_failover`); write the report and post the summary (`evidence`).

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
from backstop.resilience.failover_subjects import DrillRefused, Position

__all__ = ["DrillRefused", "FailoverDrillOperator"]


class FailoverDrillOperator(ResilienceDrillOperator):
    """Forced failover of one Multi-AZ DB instance or Aurora cluster, measured by the control plane
    and a client.

    :param spec: the drill (backstop.policy.resilience_views.FailoverSpec).
    :param waiter_delay: seconds between describe calls while it fails over.
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
        return spec.resource

    def run_drill(self, context: Context) -> dict[str, Any]:
        from backstop.drills.checks import credentials, run_checks
        from backstop.resilience import verdict
        from backstop.resilience.failover_subjects import subject_of
        from backstop.resilience.probe import Probe

        spec = self.spec
        subject = subject_of(spec)
        client = self.client(spec.region)
        described = subject.preflight(client)
        before = subject.position(client)
        # Where a client connects: the endpoint (locally: its emulated database).
        target = subject.probe_target(described)
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
            "Failing over %s (now in %s%s); probing %s every %.1fs",
            subject.label,
            before.az,
            f", writer {before.writer}" if before.writer else "",
            target.describe(),
            probe.interval,
        )
        probe.start()
        requested_at = datetime.now(UTC)
        deadline = time.monotonic() + spec.timeout_seconds
        try:
            subject.request(client)
            available_at, after, saw = self._watch(client, subject, before, deadline)
            while not probe.recovered() and time.monotonic() < deadline:
                time.sleep(probe.interval)
            time.sleep(probe.interval)  # one more sample after recovery, so the tail is measured
        finally:
            samples = probe.stop()
        # a few seconds of clock skew allowed; an earlier failover (minutes ago) is not this one
        events = subject.events(client, requested_at - timedelta(seconds=5))
        checks = []
        if spec.checks and available_at is not None:
            checks = [
                c.to_json() for c in run_checks(target, creds, spec.checks, datetime.now(UTC), log=self.log)
            ]
        result = verdict.judge_failover(
            before_az=before.az,
            after_az=after.az,
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
            writer_before=before.writer,
            writer_after=after.writer,
        )
        result["subject"] = subject.kind
        result["statuses_seen"] = saw
        result["events"] = [
            {"at": e["Date"], "message": e.get("Message"), "categories": e.get("EventCategories")}
            for e in events
        ]
        result["probe_target"] = target.to_xcom()
        result["probe_errors"] = sorted({s.error for s in samples if s.error})[:5]
        return result

    def _watch(
        self, client: Any, subject: Any, before: Position, deadline: float
    ) -> tuple[datetime | None, Position, list[str]]:
        """Poll until it is available again after the request: (when, where it is, statuses seen).

        "Again" means: it left `available`, or it moved (another AZ; a cluster: another writer).
        One that never leaves `available` where it was is watched until the timeout (a failover
        that never started).
        """
        seen: list[str] = []
        now = before
        while time.monotonic() < deadline:
            look = subject.position(client)
            now = Position(look.status, look.az or now.az, look.writer or now.writer)
            if not seen or seen[-1] != now.status:
                seen.append(str(now.status))
                self.log.info(
                    "%s: %s in %s%s",
                    subject.label,
                    now.status,
                    now.az,
                    f", writer {now.writer}" if now.writer else "",
                )
            if now.status == "available" and (len(seen) > 1 or subject.moved(before, now)):
                return datetime.now(UTC), now, seen
            time.sleep(self.waiter_delay)
        return None, now, seen
