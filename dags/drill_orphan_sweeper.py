"""Hourly cost guard: delete drill leftovers whose backstop:expires-at has passed.

A drill that died half-way (worker lost, teardown never ran) leaves an RDS instance, a
DynamoDB table or an ElastiCache replication group behind. Anything tagged
backstop:managed=true AND backstop:drill=true (DynamoDB tables and ElastiCache groups also
named like a drill) whose expires-at (drill start + the policy's max_lifetime) is in the past
is deleted, and Slack is told. Nothing without both tags is ever touched. A manual run only
lists what it would delete unless dry_run is switched off and confirm_delete typed DELETE.
Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, scheduled
from backstop.drills.sweeper import DrillOrphanSweeperOperator
from backstop.policy import load_policy
from backstop.policy.drill_views import sweeper_stores
from backstop.retention.operators import deletion_params

policy = load_policy()
stores = sweeper_stores(policy)

if stores:
    with DAG(
        dag_id="drill_orphan_sweeper",
        **scheduled(
            policy,
            "Delete expired restore-drill leftovers (RDS instances, DynamoDB tables, ElastiCache groups)",
            "17 * * * *",
        ),
        doc_md=__doc__,
        params=deletion_params("drill leftovers"),
        **dag_kwargs(policy, tags=["rds", "dynamodb", "elasticache", "drill", "cost"]),
    ) as dag:
        DrillOrphanSweeperOperator(
            task_id="sweep",
            aws_conn_id=policy.defaults.aws_conn_id,
            stores=stores,
            channel=policy.defaults.slack.channel,
            slack_conn_id=policy.defaults.slack.conn_id,
        )
