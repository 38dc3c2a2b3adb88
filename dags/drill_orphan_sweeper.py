"""Hourly cost guard: delete drill instances whose backstop:expires-at has passed.

A drill that died half-way (worker lost, teardown never ran) leaves an instance behind. Any
instance tagged backstop:managed=true AND backstop:drill=true whose expires-at (drill start
+ the policy's max_lifetime) is in the past is deleted without a final snapshot, and Slack
is told. Instances without both tags are never touched. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, scheduled
from backstop.drills.sweeper import DrillOrphanSweeperOperator
from backstop.policy import load_policy
from backstop.policy.drill_views import drill_regions

policy = load_policy()

if policy.drills:
    with DAG(
        dag_id="drill_orphan_sweeper",
        **scheduled(
            policy,
            "Delete expired restore-drill instances",
            "17 * * * *",
        ),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["rds", "drill", "cost"]),
    ) as dag:
        DrillOrphanSweeperOperator(
            task_id="sweep",
            aws_conn_id=policy.defaults.aws_conn_id,
            regions=drill_regions(policy),
            channel=policy.defaults.slack.channel,
            slack_conn_id=policy.defaults.slack.conn_id,
        )
