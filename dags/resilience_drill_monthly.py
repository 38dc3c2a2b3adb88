"""Monthly resilience drills (first Sunday 03:00 Asia/Seoul): forced failover and ECS task loss.

One task per drill under the policy's `resilience:` section, one after another (a failover
and a task loss at the same time would blur both measurements; trigger rule all_done, so a
failed drill does not skip the next). Each task refuses anything not tagged as the allowed
environment (staging), acts, measures, writes its report to reports/resilience/ and posts its
Slack summary, pass or fail. Drills never retry. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG, TriggerRule, chain

from backstop.airflow.dag_defaults import dag_kwargs, on_policy_schedule
from backstop.policy import load_policy
from backstop.policy.resilience_views import failover_specs, task_loss_specs
from backstop.resilience.failover import FailoverDrillOperator
from backstop.resilience.task_loss import TaskLossDrillOperator

policy = load_policy()
failovers = failover_specs(policy)
task_losses = task_loss_specs(policy)

if policy.resilience is not None and (failovers or task_losses):
    evidence = {
        "aws_conn_id": policy.defaults.aws_conn_id,
        "report_bucket": policy.defaults.report_bucket,
        "report_region": policy.defaults.region,
        "channel": policy.defaults.slack.channel,
        "slack_conn_id": policy.defaults.slack.conn_id,
    }
    with DAG(
        dag_id="resilience_drill_monthly",
        **on_policy_schedule(
            policy, "Forced RDS failover and ECS task loss on staging, measured", policy.resilience.schedule
        ),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["drill", "resilience"]),
    ) as dag:
        drills = [
            FailoverDrillOperator(
                task_id=f"failover-{spec.name}", spec=spec, region_name=spec.region, **evidence
            )
            for spec in failovers
        ] + [
            TaskLossDrillOperator(
                task_id=f"task_loss-{spec.name}",
                spec=spec,
                region_name=spec.region,
                deferrable=policy.defaults.deferrable,
                **evidence,
            )
            for spec in task_losses
        ]
        for drill in drills[1:]:
            drill.trigger_rule = TriggerRule.ALL_DONE
        chain(*drills)
