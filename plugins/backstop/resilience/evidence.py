"""The evidence a resilience drill leaves: a JSON report in S3 and a Slack summary with its figures.

Key layout: `reports/resilience/<YYYYMMDD>/<drill>-<run id>.json`. Every report has `kind`
(failover | task_loss | rebuild), `name`, `passed`, `failures` and the measured figures
(`failover_seconds` and `client_downtime_seconds`; `recovery_seconds`; `total_seconds`), so
a freshness monitor or console can show "last failover drill: 94 s, client downtime 41 s" by
reading the newest report of each drill.

`ResilienceDrillOperator` is the base of the drill operators: it runs the drill, turns an
exception into a failed report, writes the report and posts the summary whatever happened,
then fails the task when the drill failed or its report could not be written. Drills never
retry: a retried failover would fail the database over a second time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import DeferrableAwsOperator, aws_template_fields
from backstop.airflow.slack import context_line, fields, section
from backstop.aws.hooks import S3_HOOK, make_hook
from backstop.reports import duration_text, write_report

KINDS = {"failover": "Failover drill", "task_loss": "Task-loss drill", "rebuild": "Rebuild drill"}


class ResilienceDrillFailed(AirflowFailException):
    """The drill ran (or was refused) and did not pass; its report and summary are out."""


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 UTC, recursively, so results go to XCom and JSON unchanged."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def report_key(name: str, run_id: str, when: datetime) -> str:
    safe_run = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return f"reports/resilience/{when:%Y%m%d}/{name}-{safe_run}.json"


def _figures(report: dict[str, Any]) -> str:
    kind = report.get("kind")
    if kind == "failover":
        moved = f"{report.get('az_before') or '?'} -> {report.get('az_after') or '?'}"
        if "writer_before" in report:  # an Aurora cluster: the writer moved (and its AZ with it)
            moved = (
                f"writer {report.get('writer_before') or '?'} ({report.get('az_before') or '?'}) -> "
                f"{report.get('writer_after') or '?'} ({report.get('az_after') or '?'})"
            )
        return (
            f"{report.get('resource')} {moved}; "
            f"failover {duration_text(report.get('failover_seconds'))} "
            f"(target {duration_text(report.get('target_seconds'))}), "
            f"client downtime {duration_text(report.get('client_downtime_seconds'))} "
            f"(max {duration_text(report.get('max_client_downtime_seconds'))})"
        )
    if kind == "task_loss":
        group = str(report.get("target_group_arn") or "")
        behind = (
            f" behind target group {group.split('/')[1] if group.count('/') >= 2 else group}" if group else ""
        )
        return (
            f"{report.get('resource')}: stopped {str(report.get('stopped_task') or '-').rsplit('/', 1)[-1]}, "
            f"back at {report.get('desired_count', '?')} RUNNING{behind} in "
            f"{duration_text(report.get('recovery_seconds'))} (target {duration_text(report.get('target_seconds'))})"
        )
    drift = (report.get("state") or {}).get("drift")
    return (
        f"{report.get('resource')}: state serial {(report.get('state') or {}).get('serial', '?')} "
        f"({'no drift' if drift == [] else f'{len(drift)} change(s)' if drift else 'not planned'}), "
        f"DR restore {'verified' if (report.get('restore') or {}).get('passed') else 'not verified'}, "
        f"total {duration_text(report.get('total_seconds'))} (target {duration_text(report.get('target_seconds'))})"
    )


def summary_text(report: dict[str, Any]) -> str:
    """One line for Slack and logs: the drill, PASSED/FAILED, its figures, and why it failed."""
    label = KINDS.get(str(report.get("kind")), "Resilience drill")
    verdict = "PASSED" if report.get("passed") else "FAILED"
    text = f"{label} {report.get('name')} {verdict}: {_figures(report)}"
    if not report.get("passed"):
        text += "; " + "; ".join(report.get("failures") or ["?"])
    return text


def summary_blocks(report: dict[str, Any]) -> list[dict[str, Any]]:
    passed = bool(report.get("passed"))
    head = summary_text(report)
    if passed and report.get("kind") == "failover":
        head = f"RDS recovered. {head}"  # Runbook 1's "RDS recovered" message
    pairs = [("Drill", f"`{report.get('name')}`"), ("Resource", f"`{report.get('resource')}`")]
    for key, label in (
        ("failover_seconds", "Failover"),
        ("client_downtime_seconds", "Client downtime"),
        ("recovery_seconds", "Recovery"),
        ("total_seconds", "Total"),
    ):
        if key in report:
            pairs.append((label, duration_text(report.get(key))))
    blocks = [section(f"{':white_check_mark:' if passed else ':x:'} {head}"), fields(pairs)]
    if report.get("report_uri"):
        blocks.append(context_line(f"Report `{report['report_uri']}`"))
    return blocks


class ResilienceDrillOperator(DeferrableAwsOperator):
    """Run one drill (`run_drill`), then write its report and post its summary, pass or fail.

    :param report_bucket: where the JSON report goes (the policy's `defaults.report_bucket`).
    :param report_region: the report bucket's region.
    :param channel: Slack channel of the summary.
    """

    template_fields: Sequence[str] = aws_template_fields()
    kind = "failover"

    def __init__(
        self,
        *,
        spec: Any,
        report_bucket: str,
        channel: str,
        report_region: str | None = None,
        slack_conn_id: str = "slack_api_default",
        **kwargs: Any,
    ) -> None:
        kwargs["retries"] = 0  # never again by itself: each try breaks something on purpose
        super().__init__(**kwargs)
        self.spec = spec
        self.report_bucket = report_bucket
        self.report_region = report_region
        self.channel = channel
        self.slack_conn_id = slack_conn_id

    @property
    def resource_id(self) -> str | None:
        """The drill's resource, for the Slack failure alert's "Resource" field."""
        return self.resource_of(self.spec) if not isinstance(self.spec, str) else None

    def resource_of(self, spec: Any) -> str:
        raise NotImplementedError

    def run_drill(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        return self.settle(context, self.run_drill)

    def settle(self, context: Context, step: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run `step`; whatever it did (a result or an exception), leave the evidence, then decide."""
        from airflow.sdk.exceptions import TaskDeferred

        try:
            result = step(context, *args, **kwargs)
        except TaskDeferred:
            raise
        except Exception as exc:
            self.log.error("Drill %s stopped: %s", self.drill_name, exc)
            result = {"passed": False, "failures": [f"{type(exc).__name__}: {exc}"], "error": str(exc)}
        return self.finish(context, result)

    @property
    def drill_name(self) -> str:
        return getattr(getattr(self, "spec", None), "name", self.task_id)

    def finish(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        from backstop.airflow.slack import post_message

        now = datetime.now(UTC)
        run_id = str(context["run_id"])
        report = jsonable(
            {
                "kind": self.kind,
                "name": self.drill_name,
                "resource": self.resource_id,
                "dag_id": context["ti"].dag_id,
                "run_id": run_id,
                **result,
                "finished_at": now,
            }
        )
        report["passed"] = bool(result.get("passed")) and not result.get("error")
        key = report_key(report["name"], run_id, now)
        report["report_uri"] = f"s3://{self.report_bucket}/{key}"  # in the report itself too
        problems = []
        try:
            hook = make_hook(
                S3_HOOK,
                aws_conn_id=self.aws_conn_id,
                region_name=self.report_region,
                verify=self.verify,
                botocore_config=self.botocore_config,
            )
            report["report_uri"] = write_report(hook, self.report_bucket, key, report)
        except Exception as exc:  # the Slack summary must still go out
            self.log.error("Could not write the report to s3://%s/%s: %s", self.report_bucket, key, exc)
            report["report_uri"] = None
            problems.append(f"the report could not be written to s3://{self.report_bucket}/{key}: {exc}")
        text = summary_text(report)
        self.log.info("%s", text)
        post_message(self.channel, text, summary_blocks(report), self.slack_conn_id)
        context["ti"].xcom_push(key="drill_report", value=report)
        if not report["passed"]:
            problems.insert(0, "; ".join(report.get("failures") or ["the drill did not pass"]))
        if problems:
            raise ResilienceDrillFailed(f"{KINDS[self.kind]} {report['name']} FAILED: " + "; ".join(problems))
        return report
