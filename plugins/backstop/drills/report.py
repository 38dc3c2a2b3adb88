"""The evidence a drill or manual restore leaves: a JSON report in S3, a Slack summary, a tag.

`build_report` assembles the report from what the steps returned (pure, unit-tested);
`DrillReportOperator` only gathers those results from XCom, tags a snapshot a passing
`dr_snapshot` drill proved (`backstop:restore-verified=true`), writes the report to the
report bucket and posts the summary (rendering and the S3 key: `backstop.reports`).

The report task fails, after writing and posting what it could, when the evidence is
incomplete: the report could not be written, or (in a drill) the teardown did not confirm
the drill instance was deleted. See dags/restore_drill_monthly.py for why that fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import RDS_HOOK, S3_HOOK, LazyHookClass
from backstop.drills.plan import RestorePlan
from backstop.drills.times import iso, tag_time
from backstop.naming import EXPIRES_TAG, RESTORE_VERIFIED_AT_TAG, RESTORE_VERIFIED_TAG

# The steps a report looks at, in run order; the first one without a result is the one that failed.
STEPS = ("plan", "restore", "wait", "verify")


@dataclass(frozen=True)
class StepResults:
    """What each step returned (None: it failed, or never ran). `verified` is verify's `drill_result`."""

    plan: RestorePlan | None = None
    restored: dict[str, Any] | None = None
    waited: dict[str, Any] | None = None
    verified: dict[str, Any] | None = None
    deleted: dict[str, Any] | None = None

    def of(self, step: str) -> Any:
        return {
            "plan": self.plan,
            "restore": self.restored,
            "wait": self.waited,
            "verify": self.verified,
            "teardown": self.deleted,
        }[step]


@dataclass(frozen=True)
class Subject:
    """Whom the report is about when there is no plan to say so (the planner failed)."""

    name: str | None = None
    kind: str | None = None
    source: str | None = None
    region: str | None = None


def failed_step(task_ids: Mapping[str, str], results: StepResults) -> str | None:
    """The task id of the first step without a result, or of verify when its verdict is FAILED."""
    for step in STEPS:
        if step in task_ids and not results.of(step):
            return task_ids[step]
    if results.verified and not results.verified.get("passed"):
        return task_ids["verify"]
    return None


def build_report(
    results: StepResults,
    *,
    task_ids: Mapping[str, str],
    subject: Subject,
    dag_id: str,
    run_id: str,
    finished_at: datetime,
) -> dict[str, Any]:
    """The report: ids, times, each check with its observed value, RTO, RPO, pass/fail and the failed step."""
    plan = results.plan.to_xcom() if results.plan else {}
    result = results.verified or {}
    failed = failed_step(task_ids, results)
    passed = failed is None and bool(result.get("passed"))
    failures = list(result.get("failures") or [])
    if not passed and not failures:
        failures = [f"task {failed} failed before producing a result (see its log)"]
    return {
        "name": plan.get("name") or subject.name or "restore",
        "kind": plan.get("kind") or subject.kind,
        "dag_id": dag_id,
        "run_id": run_id,
        "source": plan.get("source") or subject.source,
        "region": plan.get("restore_region") or subject.region,
        "instance_id": plan.get("instance_id") or (results.deleted or {}).get("instance_id"),
        "instance_class": plan.get("instance_class"),
        "snapshot": plan.get("snapshot"),
        "started_at": plan.get("started_at"),
        "restore_point": plan.get("restore_point"),
        "window": plan.get("window"),
        "restored": results.restored,
        "available": results.waited,
        "endpoint": result.get("endpoint"),
        "connected_to": result.get("connected_to"),
        "parity": result.get("parity"),
        "checks": result.get("checks") or [],
        "rto_seconds": result.get("rto_seconds"),
        "rpo_seconds": result.get("rpo_seconds"),
        "rpo_basis": result.get("rpo_basis"),
        "objectives": plan.get("objectives"),
        "rto_met": result.get("rto_met"),
        "rpo_met": result.get("rpo_met"),
        "passed": passed,
        "failed_step": failed,
        "failures": failures,
        "deleted": results.deleted,
        "notes": result.get("notes") or plan.get("notes") or [],
        "finished_at": iso(finished_at),
    }


def approval_decision(answer: Mapping[str, Any] | None, tables: Sequence[str]) -> dict[str, Any] | None:
    """Who decided the copy-back and how (ApprovalOperator's result), or None when nothing was asked."""
    if not tables:
        return None
    if not answer:
        return {"option": None, "by": None, "at": None, "note": "no decision (timed out, or not reached)"}
    user = answer.get("responded_by_user") or {}
    at = answer.get("responded_at")
    return {
        "option": (answer.get("chosen_options") or [None])[0],
        "by": user.get("name") or user.get("id"),
        "by_id": user.get("id"),
        "at": iso(at) if isinstance(at, datetime) else at,
    }


def copy_back_problem(report: Mapping[str, Any]) -> str | None:
    """Why an approved copy-back is not done, or None."""
    decision = report.get("decision") or {}
    if decision.get("option") == "Approve" and not report.get("copy_back"):
        return (
            f"copy-back of {', '.join(report.get('tables') or [])} was approved by {decision.get('by')} "
            "but did not complete (see task copy_back); the original tables are unchanged or in "
            "the kept schema"
        )
    return None


def teardown_problem(
    task_ids: Mapping[str, str], results: StepResults, instance_id: str | None
) -> str | None:
    """Why the drill's cleanup is unconfirmed, or None (no teardown step, or it returned a result)."""
    if "teardown" not in task_ids or results.deleted:
        return None
    return (
        f"the drill instance {instance_id or '?'} was not confirmed deleted (task {task_ids['teardown']} "
        f"failed, see its log); the orphan sweeper deletes it once its {EXPIRES_TAG} has passed"
    )


class DrillReportOperator(BackstopAwsOperator):
    """Write the JSON report, tag the verified snapshot (dr_snapshot, passing), tell Slack.

    Runs whatever happened before it (trigger rule all_done). Reads what the steps left in
    XCom (`task_ids`: step -> task id, steps in STEPS plus "teardown"); the first step without a
    result is the one that failed. `name`, `kind`, `source` and `region` name the subject
    when the planner failed.
    """

    aws_hook_class = LazyHookClass(S3_HOOK)
    regional_hook_class = LazyHookClass(RDS_HOOK)  # client(region): RDS in each region
    template_fields: Sequence[str] = aws_template_fields("name", "kind", "source", "region", "task_ids")

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        task_ids: dict[str, str],
        report_bucket: str,
        channel: str,
        source: str | None = None,
        region: str | None = None,
        slack_conn_id: str = "slack_api_default",
        fail_unless_passed: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # True where this report is the run's last word (the manual restore): the run then fails
        # with the restore or the approved copy-back, after the report is written.
        self.fail_unless_passed = fail_unless_passed
        self.name = name
        self.kind = kind
        self.source = source
        self.region = region
        self.task_ids = task_ids
        self.report_bucket = report_bucket
        self.channel = channel
        self.slack_conn_id = slack_conn_id

    def _pull(self, context: Context, step: str, key: str = "return_value") -> Any:
        task_id = self.task_ids.get(step)
        return context["ti"].xcom_pull(task_ids=task_id, key=key) if task_id else None

    def gather(self, context: Context) -> StepResults:
        return StepResults(
            plan=RestorePlan.from_xcom(self._pull(context, "plan")),
            restored=self._pull(context, "restore"),
            waited=self._pull(context, "wait"),
            verified=self._pull(context, "verify", "drill_result"),
            deleted=self._pull(context, "teardown"),
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.airflow.slack import post_message
        from backstop.reports import report_key, summary_blocks, summary_text, write_report

        results = self.gather(context)
        now = datetime.now(UTC)
        run_id = str(context["run_id"])
        report = build_report(
            results,
            task_ids=self.task_ids,
            subject=Subject(self.name, self.kind, self.source or None, self.region),
            dag_id=context["ti"].dag_id,
            run_id=run_id,
            finished_at=now,
        )
        plan = results.plan
        if "approve" in self.task_ids:  # the manual restore: the human decision and what it did
            report["tables"] = list(plan.tables) if plan else []
            # the key RecordedApprovalOperator stores on Approve and on Reject alike
            report["decision"] = approval_decision(
                self._pull(context, "approve", "decision"), report["tables"]
            )
            report["copy_back"] = self._pull(context, "copy_back")
        if report["passed"] and plan and plan.kind == "dr_snapshot" and plan.snapshot:
            report["tagged_snapshot"] = self._tag_verified(plan, now)
        problems = []
        key = report_key(report["kind"] or "manual", report["name"], run_id, now)
        try:
            report["report_uri"] = write_report(self.hook, self.report_bucket, key, report)
            self.log.info("Report written to %s", report["report_uri"])
        except Exception as exc:  # the Slack summary must still go out
            self.log.error("Could not write the report to s3://%s/%s: %s", self.report_bucket, key, exc)
            report["report_uri"] = None
            problems.append(f"the report could not be written to s3://{self.report_bucket}/{key}: {exc}")
        text = summary_text(report)
        self.log.info("%s", text)
        post_message(self.channel, text, summary_blocks(report), self.slack_conn_id)
        cleanup = teardown_problem(self.task_ids, results, report["instance_id"])
        if cleanup:
            problems.insert(0, cleanup)
        if self.fail_unless_passed:
            unfinished = copy_back_problem(report)
            if unfinished:
                problems.insert(0, unfinished)
            if not report["passed"]:
                problems.insert(0, f"the restore did not pass: {'; '.join(report['failures'])}")
        if problems:  # no retry: the summary went out; a retry would only post it again
            raise AirflowFailException("; ".join(problems))
        return report

    def _tag_verified(self, plan: RestorePlan, now: datetime) -> str:
        from backstop.aws.rds_instances import add_tags

        snapshot = plan.snapshot
        add_tags(
            self.client(plan.restore_region),
            snapshot.arn,
            {RESTORE_VERIFIED_TAG: "true", RESTORE_VERIFIED_AT_TAG: tag_time(now)},
        )
        self.log.info("Tagged %s %s=true", snapshot.snapshot_id, RESTORE_VERIFIED_TAG)
        return snapshot.snapshot_id
