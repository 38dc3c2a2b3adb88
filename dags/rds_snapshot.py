"""Manual RDS snapshots on each tier's schedule: `rds_<tier>_snapshot` (e.g. rds_weekly_snapshot).

`resolve_targets` turns the policy's resources into one job per database; `snapshot` is
mapped over them, so one failing database does not stop the others (the run still ends
failed and Slack is told); `announce` (the teardown of `resolve_targets`) then updates the
`backstop_rds_snapshots` asset once, naming the snapshots made, which schedules
rds_cross_region_copy. Wiring only: the logic is in backstop.snapshots.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, rds_snapshots_asset, scheduled
from backstop.policy import load_policy
from backstop.policy.views import snapshot_targets
from backstop.snapshots.announce import AnnounceSnapshotsOperator
from backstop.snapshots.create import RdsManagedSnapshotOperator
from backstop.snapshots.targets import RdsResolveTargetsOperator

policy = load_policy()

for tier in policy.snapshot_tiers():
    with DAG(
        dag_id=f"rds_{tier}_snapshot",
        **scheduled(
            policy,
            policy.schedules[tier].description or f"{tier} manual RDS snapshots",
            policy.schedules[tier].cron,
        ),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["rds", "snapshot", tier]),
    ):
        targets = RdsResolveTargetsOperator(
            task_id="resolve_targets",
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=policy.defaults.region,
            targets=snapshot_targets(policy, tier),
        )
        snapshots = RdsManagedSnapshotOperator.partial(
            task_id="snapshot",
            aws_conn_id=policy.defaults.aws_conn_id,
            tier=tier,
            timezone=policy.defaults.timezone,
            deferrable=policy.defaults.deferrable,
            manual_snapshot_quota=policy.defaults.manual_snapshot_quota,
            map_index_template="{{ task.db_identifier }}",
        ).expand_kwargs(targets.output)
        announce = AnnounceSnapshotsOperator(
            task_id="announce",
            snapshots=snapshots.output,
            asset=rds_snapshots_asset(),
        )
        snapshots >> announce.as_teardown(setups=targets)
