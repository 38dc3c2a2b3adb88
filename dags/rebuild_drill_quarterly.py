"""Quarterly rebuild drill (first Saturday of Jan/Apr/Jul/Oct 02:00 Asia/Seoul, or by hand).

Per `resilience.rebuild` entry: plan_state (the newest Terraform state backup into a scratch
workspace, `terraform plan` against the code: drift) -> the restore drill it names (kind
dr_snapshot: preflight, restore, wait_available, verify, delete_instance, report: the same
operators and wiring as restore_drill_monthly) -> rebuild_report (all_done: no drift, data
verified, instance deleted, total within the target; report and Slack summary; fails the run
otherwise). Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG, TaskGroup, TriggerRule

from backstop.airflow.dag_defaults import dag_kwargs, on_policy_schedule
from backstop.drills.wiring import restore_drill_tasks
from backstop.policy import load_policy
from backstop.policy.resilience_views import rebuild_specs
from backstop.resilience.rebuild import RebuildReportOperator, RebuildStatePlanOperator

policy = load_policy()
rebuilds = rebuild_specs(policy)
aws = {"aws_conn_id": policy.defaults.aws_conn_id}

if policy.resilience is not None and rebuilds:
    with DAG(
        dag_id="rebuild_drill_quarterly",
        **on_policy_schedule(
            policy,
            "Quarterly rebuild: state backup planned against the code, DR snapshot restored and verified",
            policy.resilience.rebuild_schedule,
        ),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["drill", "resilience", "terraform"]),
    ) as dag:
        for spec in rebuilds:
            drill = spec.drill
            with TaskGroup(group_id=spec.name):
                plan_state = RebuildStatePlanOperator(
                    task_id="plan_state", spec=spec, region_name=spec.vault_region, **aws
                )
                with TaskGroup(group_id=drill.name):
                    drill_tasks = restore_drill_tasks(drill, policy)
                rebuild_report = RebuildReportOperator(
                    task_id="rebuild_report",
                    spec=spec,
                    task_ids={
                        "state": plan_state.task_id,
                        "verify": drill_tasks.verify.task_id,
                        "teardown": drill_tasks.delete.task_id,
                    },
                    report_bucket=policy.defaults.report_bucket,
                    report_region=policy.defaults.region,
                    channel=policy.defaults.slack.channel,
                    slack_conn_id=policy.defaults.slack.conn_id,
                    trigger_rule=TriggerRule.ALL_DONE,
                    **aws,
                )
                plan_state >> drill_tasks.preflight
                plan_state.trigger_rule = TriggerRule.ALL_SUCCESS
                drill_tasks.preflight.trigger_rule = TriggerRule.ALL_DONE  # drift does not stop the data half
                [plan_state, drill_tasks.report] >> rebuild_report
