"""Monthly restore drills (first Sunday 03:00 Asia/Seoul): prove the backups restore.

One task group per drill in the policy: preflight (source available; a leftover managed
drill instance of the same name is deleted, an unmanaged one fails the drill) -> restore
(setup: PITR with the source's network and parameter groups, or the newest DR-region copy)
-> wait_available (deferrable) -> verify (parity + SQL checks with psycopg, RTO/RPO against
the objectives; fails naming what missed) -> delete_instance (teardown, all_done) -> report
(all_done: JSON in the report bucket under reports/drills/, restore-verified tag, Slack
summary).

The run's state is the verdict of the drills. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG, TaskGroup, TriggerRule

from backstop.airflow.dag_defaults import cron_timetable, dag_kwargs
from backstop.drills.report import DrillReportOperator
from backstop.drills.restore import (
    DrillPreflightOperator,
    DrillRestoreOperator,
    DrillTeardownOperator,
    DrillVerifyOperator,
    RdsInstanceWaitOperator,
)
from backstop.policy import load_policy
from backstop.policy.drill_views import drill_dags

policy = load_policy()
aws = {"aws_conn_id": policy.defaults.aws_conn_id}

for drill_dag in drill_dags(policy):
    with DAG(
        dag_id=drill_dag.dag_id,
        description=drill_dag.description,
        schedule=cron_timetable(policy, drill_dag.schedule),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["rds", "drill"]),
    ) as dag:
        for spec in drill_dag.drills:
            with TaskGroup(group_id=spec.name):
                preflight = DrillPreflightOperator(
                    task_id="preflight", spec=spec, region_name=spec.region, **aws
                )
                restore = DrillRestoreOperator(task_id="restore", plan=preflight.output, **aws)
                wait = RdsInstanceWaitOperator(
                    task_id="wait_available",
                    instance_id=preflight.output["instance_id"],
                    region_name=spec.restore_region,
                    deferrable=policy.defaults.deferrable,
                    **aws,
                )
                verify = DrillVerifyOperator(task_id="verify", plan=preflight.output, **aws)
                delete = DrillTeardownOperator(
                    task_id="delete_instance", spec=spec, deferrable=policy.defaults.deferrable, **aws
                )
                report = DrillReportOperator(
                    task_id="report",
                    name=spec.name,
                    kind=spec.kind,
                    source=spec.source,
                    region=spec.restore_region,
                    task_ids={
                        "plan": preflight.task_id,
                        "restore": restore.task_id,
                        "wait": wait.task_id,
                        "verify": verify.task_id,
                        "teardown": delete.task_id,
                    },
                    report_bucket=policy.defaults.report_bucket,
                    region_name=policy.defaults.region,
                    channel=policy.defaults.slack.channel,
                    slack_conn_id=policy.defaults.slack.conn_id,
                    **aws,
                )
                restore >> wait >> verify >> delete >> report
                delete.as_teardown(setups=restore)
                report.as_teardown()
                # Both run whatever happened upstream (a failed restore may have left an instance).
                delete.trigger_rule = TriggerRule.ALL_DONE
                report.trigger_rule = TriggerRule.ALL_DONE
