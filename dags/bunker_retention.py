"""Prune the bunker account's copies with the bunker's own role, by the same planner and interlocks.

The tasks are retention_prune's (backstop.retention.operators), with `aws_conn_id` = the bunker
connection, the bunker's regions, rules (`bunker.retention`) and report bucket; first
`check_bunker_account` fails the run unless that connection reaches `bunker.account_id`. The
connection is `bunker.retention_conn_id` (the retention role), never the copy connection: the
role the source account may assume cannot delete.
Manual runs are dry runs unless `dry_run` is off AND `confirm_delete` is DELETE; scheduled runs
delete; a slot missed by more than an hour is skipped. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, on_policy_schedule
from backstop.airflow.missed_runs import on_time_gate
from backstop.bunker.retention import BunkerAccountCheckOperator
from backstop.policy import load_policy
from backstop.policy.bunker_views import bunker_retention_rules
from backstop.policy.views import policy_channels
from backstop.retention.operators import RetentionApplyOperator, RetentionPlanOperator, deletion_params

policy = load_policy()

if policy.bunker is not None:
    bunker = policy.bunker
    regions = [r.region for r in bunker.regions]
    with DAG(
        dag_id="bunker_retention",
        **on_policy_schedule(
            policy, "Prune the bunker account's copies by bunker.retention", bunker.retention_schedule
        ),
        doc_md=__doc__,
        params=deletion_params("bunker copies"),
        **dag_kwargs(policy, tags=["rds", "bunker", "retention"]),
    ) as dag:
        # On AWS the retention role is assumable only inside the bunker account: its tasks run on
        # workers there (bunker.retention_queue); None keeps the default queue (local stack).
        queue = {"queue": bunker.retention_queue} if bunker.retention_queue else {}
        check = BunkerAccountCheckOperator(
            task_id="check_bunker_account",
            aws_conn_id=bunker.retention_conn_id,
            region_name=regions[0],
            bunker_account=bunker.account_id,
            **queue,
        )
        plan = RetentionPlanOperator(
            task_id="plan_retention",
            aws_conn_id=bunker.retention_conn_id,
            region_name=regions[0],
            regions=regions,
            rules=bunker_retention_rules(policy),
            report_bucket=bunker.report_bucket,
            alert_channel=policy.defaults.slack.channel,
            policy_channels=policy_channels(policy),
            slack_conn_id=policy.defaults.slack.conn_id,
            clock_skew_seconds=policy.defaults.clock_skew_tolerance.total_seconds(),
            **queue,
        )
        on_time_gate() >> check >> plan
        RetentionApplyOperator(
            task_id="apply_retention",
            aws_conn_id=bunker.retention_conn_id,
            region_name=regions[0],  # of the report bucket; snapshots: each one's own region
            plan=plan.output,
            **queue,
        )
