"""ElastiCache restore drill: a replication group from the newest managed snapshot, checked, deleted.

One DAG per `elasticache:` policy with a `drill` (`elasticache_drill_<policy>`), on the
drill's schedule (default: the monthly drill). restore -> wait_available (deferrable) ->
verify (available, tags, shards, endpoint, RTO) -> teardown (all_done: deletes only a group
tagged backstop:managed=true and backstop:drill=true, writes the report). Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG, TriggerRule

from backstop.airflow.dag_defaults import cron_timetable, dag_kwargs
from backstop.elasticache.drill import (
    CacheDrillRestoreOperator,
    CacheDrillTeardownOperator,
    CacheDrillVerifyOperator,
    CacheGroupWaitOperator,
)
from backstop.policy import load_policy
from backstop.policy.datastore_views import elasticache_drills

policy = load_policy()

for drill in elasticache_drills(policy):
    with DAG(
        dag_id=f"elasticache_drill_{drill['policy'].replace('-', '_')}",
        description=f"ElastiCache restore drill of {drill['source_id']}",
        schedule=cron_timetable(policy, drill["schedule"]),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["elasticache", "drill"], channel=drill["channel"]),
    ) as dag:
        common = {
            "aws_conn_id": policy.defaults.aws_conn_id,
            "region_name": drill["region"],
            "source_id": drill["source_id"],
            "drill_name": drill["name"],
            "timezone": policy.defaults.timezone,
        }
        restore = CacheDrillRestoreOperator(
            task_id="restore",
            node_type=drill["node_type"],
            policy_name=drill["policy"],
            max_lifetime_seconds=drill["max_lifetime_seconds"],
            **common,
        )
        wait = CacheGroupWaitOperator(
            task_id="wait_available",
            group_id=restore.output["group_id"],
            deferrable=policy.defaults.deferrable,
            waiter_delay=30,
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=drill["region"],
        )
        verify = CacheDrillVerifyOperator(
            task_id="verify", restore=restore.output, rto_seconds=drill["rto_seconds"], **common
        )
        teardown = CacheDrillTeardownOperator(
            task_id="teardown",
            report_bucket=policy.defaults.report_bucket,
            trigger_rule=TriggerRule.ALL_DONE,
            **common,
        )
        # A teardown: the run is judged by verify (a failed drill fails it), and a refused or
        # failed delete fails the run too (on_failure_fail_dagrun).
        restore >> wait >> verify >> teardown.as_teardown(setups=restore, on_failure_fail_dagrun=True)
    globals()[dag.dag_id] = dag
