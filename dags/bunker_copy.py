"""Copy the newest managed snapshots of the databases that ask for it into the backup account.

The seed's worst case is the AWS account itself compromised (dr-plan-triflow.md): a copy in a
separate account ("bunker"), made through a connection that assumes a role there and encrypted
with the bunker's KMS key, survives it. Scheduled on the `backstop_rds_snapshots` asset like
rds_cross_region_copy: `plan_bunker_copies` finds the newest managed snapshot of each opted-in
database without a copy in the bunker; `copy_to_bunker` (mapped) shares it, copies it, waits
(deferrable), verifies it there and removes the share. Wiring only: the logic is in backstop.bunker.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, rds_snapshots_asset
from backstop.bunker.copy import BunkerCopyOperator, BunkerPlanCopiesOperator
from backstop.policy import load_policy
from backstop.policy.bunker_views import bunker_copy_settings

policy = load_policy()
bunker = bunker_copy_settings(policy)

if bunker:
    with DAG(
        dag_id="bunker_copy",
        description="Copy the newest managed RDS/Aurora snapshots into the backup (bunker) account",
        schedule=[rds_snapshots_asset()],
        # Active from the start, like rds_cross_region_copy: it runs only when snapshots are announced.
        is_paused_upon_creation=False,
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["rds", "dr", "bunker"]),
    ):
        plan = BunkerPlanCopiesOperator(
            task_id="plan_bunker_copies",
            aws_conn_id=bunker["aws_conn_id"],
            source_conn_id=policy.defaults.aws_conn_id,
            bunker_account=bunker["account_id"],
            regions=bunker["regions"],
            databases=bunker["databases"],
        )
        BunkerCopyOperator.partial(
            task_id="copy_to_bunker",
            aws_conn_id=bunker["aws_conn_id"],
            source_conn_id=policy.defaults.aws_conn_id,
            bunker_account=bunker["account_id"],
            timezone=policy.defaults.timezone,
            deferrable=policy.defaults.deferrable,
            manual_snapshot_quota=policy.defaults.manual_snapshot_quota,
            map_index_template="{{ task.snapshot_identifier }} ({{ task.region_name }})",
        ).expand_kwargs(plan.output)
