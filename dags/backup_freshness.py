"""Hourly: is every protected database's newest backup fresh, in its region and each DR region?

For each resource and region: the newest managed backup and its age against the schedule's
max_age, the DR copy, the newest restore-verified backup and the latest drill, as
green / amber / red with a reason. Evidence in s3://<report_bucket>/freshness/; Slack is told
when a resource turns stale (once, then a reminder per `freshness.reminder_every`) and when it
recovers. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, scheduled
from backstop.freshness.config import monitor_arguments
from backstop.freshness.operators import FreshnessMonitorOperator
from backstop.policy import load_policy

policy = load_policy()
arguments = monitor_arguments(policy)

if arguments["targets"]:
    with DAG(
        dag_id="backup_freshness",
        **scheduled(policy, "Hourly backup freshness per resource and region", "7 * * * *"),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["rds", "freshness", "monitor"]),
    ) as dag:
        FreshnessMonitorOperator(task_id="check_freshness", **arguments)
