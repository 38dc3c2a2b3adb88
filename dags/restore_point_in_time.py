"""Runbook 2 as a form: restore an RDS instance to a point in time, verify it, copy tables back.

Trigger by hand (schedule None) with the form: source instance, restore time (UTC; empty =
the latest restorable time), target instance id, instance class, checks to run, tables to
copy back. `plan` checks the time against the source's restorable window before anything
is created (a bad value fails with the valid window). Then restore -> wait -> verify (the
chosen checks with psycopg) -> report (endpoint and check results: JSON under
reports/restores/ and Slack; a report that cannot be written fails the run, as in the
drills). When tables are chosen, `approve` (Airflow's ApprovalOperator, recording the decision; Home -> Required Actions)
waits for a human; only then `copy_back` pg_dumps each table from the restored instance into
the original, keeping the replaced table in schema backstop_before_restore_<plan start, UTC>
(the approval page names it). `report` runs last, so it records who decided what and what
was copied back; it fails the run when the restore or an approved copy-back did not complete.
The restored instance is kept for investigation (tagged backstop:managed, not a drill):
delete it by hand when done. Promotion (Runbook 2 option A) is a documented manual step.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, TriggerRule, task

from backstop.airflow.approvals import RecordedApprovalOperator
from backstop.airflow.dag_defaults import dag_kwargs
from backstop.drills.forms import APPROVAL_BODY, APPROVAL_SUBJECT, restore_params
from backstop.drills.manual import CopyBackOperator, ManualRestorePlanOperator
from backstop.drills.report import DrillReportOperator
from backstop.drills.restore import DrillRestoreOperator, DrillVerifyOperator, RdsInstanceWaitOperator
from backstop.policy import load_policy
from backstop.policy.drill_views import restore_form

policy = load_policy()
form = restore_form(policy)  # every drill's source, with its checks and credentials

if form is not None:
    aws = {"aws_conn_id": policy.defaults.aws_conn_id}
    with DAG(
        dag_id="restore_point_in_time",
        description="Runbook 2: restore to a point in time, verify, copy tables back after approval",
        schedule=None,
        doc_md=__doc__,
        params=restore_params(form),
        **dag_kwargs(policy, tags=["rds", "restore"]),
    ) as dag:
        plan = ManualRestorePlanOperator(task_id="plan", sources=form.sources, **aws)
        restore = DrillRestoreOperator(task_id="restore", plan=plan.output, **aws)
        wait = RdsInstanceWaitOperator(
            task_id="wait_available",
            instance_id=plan.output["instance_id"],
            deferrable=policy.defaults.deferrable,
            region_name=plan.output["restore_region"],
            **aws,
        )
        verify = DrillVerifyOperator(task_id="verify", plan=plan.output, **aws)
        report = DrillReportOperator(
            task_id="report",
            name="manual-restore",
            kind="manual",
            source="{{ params.source }}",
            task_ids={
                "plan": "plan",
                "restore": "restore",
                "wait": "wait_available",
                "verify": "verify",
                "approve": "approve",
                "copy_back": "copy_back",
            },
            report_bucket=policy.defaults.report_bucket,
            region_name=policy.defaults.region,
            channel=policy.defaults.slack.channel,
            slack_conn_id=policy.defaults.slack.conn_id,
            trigger_rule=TriggerRule.ALL_DONE,
            fail_unless_passed=True,  # the last task: the run's state is the restore's and the copy-back's
            **aws,
        )

        @task.branch(task_id="route")
        def route(params=None) -> list[str]:
            return ["approve"] if params.get("tables") else []

        approve = RecordedApprovalOperator(
            task_id="approve",
            subject=APPROVAL_SUBJECT,
            body=APPROVAL_BODY,
            response_timeout=timedelta(hours=24),
        )
        copy_back = CopyBackOperator(task_id="copy_back", plan=plan.output, **aws)
        # The report comes last, so it records the decision (who, which option) and the copy-back.
        restore >> wait >> verify >> route() >> approve >> copy_back >> report
