"""Manual RDS snapshots on each tier's schedule: `rds_<tier>_snapshot` (e.g. rds_weekly_snapshot).

One mapped task per protected database, so one failing database does not stop the others
(the run still ends failed and Slack is told). Each successful snapshot updates the
`backstop_rds_snapshots` asset, which schedules rds_cross_region_copy. Wiring only: the logic is in plugins/backstop.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import cron_timetable, dag_kwargs, rds_snapshots_asset
from backstop.policy import load_policy
from backstop.snapshots.operators import RdsManagedSnapshotOperator, RdsResolveTargetsOperator

policy = load_policy()

for tier in policy.snapshot_tiers():
    schedule = policy.schedules[tier]
    with DAG(
        dag_id=f"rds_{tier}_snapshot",
        description=schedule.description or f"{tier} manual RDS snapshots",
        schedule=cron_timetable(policy, tier),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["rds", "snapshot", tier]),
    ) as dag:
        targets = RdsResolveTargetsOperator(
            task_id="resolve_targets",
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=policy.defaults.region,
            targets=[
                {
                    "policy": item.name,
                    "region": policy.region_of(item),
                    "alert_channel": item.slack_channel,
                    **resource.model_dump(exclude_none=True),
                }
                for item in policy.policies_for_tier(tier)
                for resource in item.resources
            ],
        )
        RdsManagedSnapshotOperator.partial(
            task_id="snapshot",
            aws_conn_id=policy.defaults.aws_conn_id,
            tier=tier,
            timezone=policy.defaults.timezone,
            deferrable=policy.defaults.deferrable,
            manual_snapshot_quota=policy.defaults.manual_snapshot_quota,
            map_index_template="{{ task.db_identifier }}",
            outlets=[rds_snapshots_asset()],  # each new snapshot schedules rds_cross_region_copy
        ).expand_kwargs(targets.output)
    globals()[dag.dag_id] = dag
