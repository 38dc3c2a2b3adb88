"""The hourly freshness check as an operator: evaluate, write the evidence, alert on changes.

Alerts go to each policy's channel (its `slack_channel`, else the default) only when a row
turns red, as a reminder every `freshness.reminder_every` while it stays red, and once as
"✅ recovered" when it is no longer red. The memory of what was said is
`freshness/state.json` in the report bucket, read and written by every run (the DAG allows
one active run, so runs never interleave).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import GENERIC_HOOK, RDS_HOOK, S3_HOOK, LazyHookClass, make_hook


def table(report: Any) -> list[str]:
    """The report as aligned text lines, for the task log and the demo."""
    from datetime import timedelta

    from backstop.retention.planner import format_duration

    lines = []
    for r in report.rows:
        age = format_duration(timedelta(seconds=r.age_s)) if r.age_s is not None else "-"
        lines.append(f"{r.resource_id:<28} {r.region:<15} {r.role:<6} {r.status:<5} {age:>7}  {r.reason}")
    return lines


class FreshnessMonitorOperator(BackstopAwsOperator):
    """Check the freshness of every protected resource in every region it belongs in.

    :param targets: `Target.to_xcom()` dicts (backstop.freshness.config.monitor_arguments).
    :param drills: the policy's drills as {name, source, region}.
    :param report_bucket: where the evidence and the alert state live.
    :param reminder_every_s: seconds between reminders while a row stays red.
    """

    aws_hook_class = LazyHookClass(S3_HOOK)
    regional_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("targets", "drills", "report_bucket")

    def __init__(
        self,
        *,
        targets: list[dict[str, Any]],
        drills: list[dict[str, str]],
        report_bucket: str,
        reminder_every_s: float,
        slack_conn_id: str = "slack_api_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.targets = targets
        self.drills = drills
        self.report_bucket = report_bucket
        self.reminder_every_s = reminder_every_s
        self.slack_conn_id = slack_conn_id

    @property
    def resource_id(self) -> str:
        """What a failure alert names."""
        return f"freshness of {len(self.targets)} target(s)"

    def service_client(self, service: str, region: str) -> Any:
        """A client for `service` in `region` from the operator's connection (cached)."""
        if service == "rds":
            return self.client(region)
        if service == "s3" and region == self.region_name:
            return self.hook.conn
        cache = self.__dict__.setdefault("_service_clients", {})
        if (service, region) not in cache:
            hook_class, extra = (S3_HOOK, {}) if service == "s3" else (GENERIC_HOOK, {"client_type": service})
            cache[service, region] = make_hook(
                hook_class,
                aws_conn_id=self.aws_conn_id,
                region_name=region,
                verify=self.verify,
                botocore_config=self.botocore_config,
                **extra,
            ).conn
        return cache[service, region]

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.airflow.slack import post_message
        from backstop.freshness.alerts import after_delivery, messages, plan_alerts, read_state, write_state
        from backstop.freshness.monitor import evaluate, write_report
        from backstop.freshness.registry import Target
        from backstop.retention.operators import plan_time

        now = plan_time(context)
        targets = [Target.from_xcom(t) for t in self.targets]
        report = evaluate(
            targets,
            self.drills,
            client_factory=self.service_client,
            report_bucket=self.report_bucket,
            report_region=self.region_name,
            now=now,
            run_id=str(context.get("run_id")),
            log=self.log,
        )
        for line in table(report):
            self.log.info("%s", line)
        for problem in report.problems:
            self.log.warning("%s", problem)
        s3 = self.service_client("s3", self.region_name)
        uris = write_report(s3, self.report_bucket, report)
        self.log.info("Freshness report written to %s and %s", uris["run"], uris["latest"])

        channel_of = {t.policy: t.channel for t in targets}
        channels = {row.key: channel_of[row.policy] for row in report.rows}
        previous = read_state(s3, self.report_bucket, self.log)
        planned, events = plan_alerts(previous, report, channels, now, self.reminder_every_s)
        undelivered = []
        sent = []
        for channel, kind, group, text, blocks in messages(events, now, uris["run"], self.reminder_every_s):
            self.log.info("Alert to %s: %s", channel, text)
            if post_message(channel, text, blocks, self.slack_conn_id):
                sent.append({"channel": channel, "kind": kind, "rows": [e.key for e in group]})
            else:
                undelivered += group
        state_uri = write_state(s3, self.report_bucket, after_delivery(previous, planned, undelivered))
        self.log.info("Alert state written to %s", state_uri)
        return {
            "report": uris["run"],
            "counts": report.counts,
            "alerts": sent,
            "undelivered": len(undelivered),
            "state": state_uri,
        }
