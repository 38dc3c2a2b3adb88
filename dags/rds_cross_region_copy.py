"""Copy the newest managed RDS snapshots to every DR region in the policy.

Scheduled on the `backstop_rds_snapshots` asset that the snapshot DAGs update, so copies
(which can take hours) never hold up or fail the snapshot run, and a copy that failed is
retried by the next run. Per DR region: plan what lacks a copy, then one mapped copy task
per snapshot, with its policy's KMS key and alert channel, in the pool `rds_copy_<region>` (20 slots, deferred tasks counted: AWS allows
20 copies in flight per destination region). Wiring only: the logic is in backstop.snapshots.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import copy_pool, dag_kwargs, rds_snapshots_asset
from backstop.policy import load_policy
from backstop.policy.views import copy_destinations
from backstop.snapshots.copy import RdsCrossRegionCopyOperator, RdsPlanCopiesOperator

policy = load_policy()
destinations = copy_destinations(policy)

if destinations:
    with DAG(
        dag_id="rds_cross_region_copy",
        description="Copy the newest managed RDS snapshots to the DR regions",
        schedule=[rds_snapshots_asset()],
        # Active from the start: it only runs when a snapshot DAG announces snapshots, and a paused
        # copy DAG would let asset events pile up while no DR copy is made.
        is_paused_upon_creation=False,
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["rds", "dr", "copy"]),
    ):
        for region, sources in destinations.items():
            plan = RdsPlanCopiesOperator(
                task_id=f"plan_copies_to_{region}",
                aws_conn_id=policy.defaults.aws_conn_id,
                destination_region=region,
                sources=sources,
            )
            RdsCrossRegionCopyOperator.partial(
                task_id=f"copy_to_{region}",
                aws_conn_id=policy.defaults.aws_conn_id,
                destination_region=region,
                timezone=policy.defaults.timezone,
                deferrable=policy.defaults.deferrable,
                manual_snapshot_quota=policy.defaults.manual_snapshot_quota,
                pool=copy_pool(region),
                map_index_template="{{ task.snapshot_identifier }}",
            ).expand_kwargs(plan.output)
