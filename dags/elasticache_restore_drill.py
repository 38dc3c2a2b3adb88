"""ElastiCache restore drill: a replication group from the newest managed snapshot, checked, deleted.

One DAG per `elasticache:` policy with a `drill` (`elasticache_drill_<policy>`), on the
drill's schedule (default: the monthly drill). restore -> wait_available (deferrable) ->
verify (available, tags, shards, endpoint, RTO) -> teardown (deletes only a group tagged
backstop:managed=true and backstop:drill=true) -> report (JSON under reports/drills/). With the
drill's `from_dr_export`, a second DAG (`elasticache_dr_export_drill_<policy>`) does the same in
the export's DR region, seeding the group from the newest exported .rdb files there. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG, TriggerRule

from backstop.airflow.dag_defaults import dag_kwargs, on_policy_schedule
from backstop.elasticache.drill import (
    CacheDrillReportOperator,
    CacheDrillRestoreOperator,
    CacheDrillTeardownOperator,
    CacheDrillVerifyOperator,
    CacheGroupWaitOperator,
)
from backstop.policy import load_policy
from backstop.policy.datastore_views import elasticache_drills

policy = load_policy()


def drill_dag(drill: dict, dag_id: str, region: str, title: str, **restore_kwargs) -> DAG:
    with DAG(
        dag_id=dag_id,
        **on_policy_schedule(policy, title, drill["schedule"]),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["elasticache", "drill"], channel=drill["channel"]),
    ) as dag:
        common = {
            "aws_conn_id": policy.defaults.aws_conn_id,
            "region_name": region,
            "source_id": drill["source_id"],
            "drill_name": drill["name"] if region == drill["region"] else f"{drill['name']}-dr-export",
            "timezone": policy.defaults.timezone,
        }
        restore = CacheDrillRestoreOperator(
            task_id="restore",
            node_type=drill["node_type"],
            policy_name=drill["policy"],
            max_lifetime_seconds=drill["max_lifetime_seconds"],
            **restore_kwargs,
            **common,
        )
        wait = CacheGroupWaitOperator(
            task_id="wait_available",
            group_id="{{ ti.xcom_pull(task_ids='restore')['group_id'] }}",
            deferrable=policy.defaults.deferrable,
            waiter_delay=30,
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=region,
        )
        verify = CacheDrillVerifyOperator(
            task_id="verify", restore=restore.output, rto_seconds=drill["rto_seconds"], **common
        )
        teardown = CacheDrillTeardownOperator(task_id="teardown", **common)
        report = CacheDrillReportOperator(
            task_id="report", report_bucket=policy.defaults.report_bucket, **common
        )
        # As in restore_drill_monthly: teardown does not count for the run's state, so verify stays
        # a leaf (a FAILED drill fails the run); report counts (on_failure_fail_dagrun) and fails
        # when the teardown did not confirm the deletion. Both run whatever happened (all_done).
        restore >> wait >> verify >> teardown >> report
        teardown.as_teardown(setups=restore)
        report.as_teardown(setups=restore, on_failure_fail_dagrun=True)
        teardown.trigger_rule = TriggerRule.ALL_DONE
        report.trigger_rule = TriggerRule.ALL_DONE
    return dag


for drill in elasticache_drills(policy):
    name = drill["policy"].replace("-", "_")
    dag = drill_dag(
        drill,
        f"elasticache_drill_{name}",
        drill["region"],
        f"ElastiCache restore drill of {drill['source_id']}",
    )
    globals()[dag.dag_id] = dag
    if drill["dr_export"]:  # a group seeded in the DR region from the exported .rdb files there
        dag = drill_dag(
            drill,
            f"elasticache_dr_export_drill_{name}",
            drill["dr_export"]["region"],
            f"ElastiCache restore drill of {drill['source_id']} from its DR export",
            dr_export=drill["dr_export"],
            ledger_bucket=policy.defaults.report_bucket,
            ledger_region=drill["region"],
        )
        globals()[dag.dag_id] = dag
