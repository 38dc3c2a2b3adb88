"""Daily manual snapshots of the protected ElastiCache (Redis) sources, posture, and retention.

One DAG per schedule used by an `elasticache:` policy (`elasticache_<tier>_snapshot`). Per
policy: `posture_<policy>` checks ElastiCache's automatic snapshot retention and window
(alert only); `snapshot_<id>` creates or adopts today's managed snapshot of each source;
`export_<id>` exports it to S3 and copies it to the DR region where the policy asks (and names the
files in Backstop's export ledger); `prune_exports_<policy>` prunes those files by the same rules;
`prune_<policy>` runs the retention planner after every snapshot of the policy succeeded
(manual runs are dry runs unless dry_run is off and confirm_delete is DELETE). Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, on_policy_schedule
from backstop.elasticache.export import CacheSnapshotExportOperator
from backstop.elasticache.export_retention import CacheExportRetentionOperator
from backstop.elasticache.posture import CachePostureOperator
from backstop.elasticache.retention import CacheRetentionOperator
from backstop.elasticache.snapshot import CacheSnapshotOperator
from backstop.policy import load_policy
from backstop.policy.datastore_views import elasticache_jobs, elasticache_tiers
from backstop.retention.operators import deletion_params

policy = load_policy()

for tier in elasticache_tiers(policy):
    with DAG(
        dag_id=f"elasticache_{tier}_snapshot",
        **on_policy_schedule(policy, f"ElastiCache manual snapshots ({tier}), posture and retention", tier),
        doc_md=__doc__,
        params=deletion_params("snapshots"),
        **dag_kwargs(policy, tags=["elasticache", "snapshot"]),
    ) as dag:
        for job in elasticache_jobs(policy, tier):
            aws = {"aws_conn_id": policy.defaults.aws_conn_id, "region_name": job["region"]}
            if job["posture"]:
                CachePostureOperator(task_id=f"posture_{job['name']}", sources=job["posture"], **aws)
            snapshots = [
                CacheSnapshotOperator(
                    task_id=f"snapshot_{resource['id']}",
                    source_type=resource["type"],
                    source_id=resource["id"],
                    tier=tier,
                    policy_name=job["name"],
                    timezone=policy.defaults.timezone,
                    alert_channel=job["channel"],
                    deferrable=policy.defaults.deferrable,
                    **aws,
                )
                for resource in job["resources"]
            ]
            exports = []
            if job["export"]:
                for snapshot in snapshots:
                    export = CacheSnapshotExportOperator(
                        task_id=f"export_{snapshot.source_id}",
                        snapshot=snapshot.output,
                        deferrable=policy.defaults.deferrable,
                        ledger_bucket=policy.defaults.report_bucket,
                        **job["export"],
                        **aws,
                    )
                    snapshot >> export
                    exports.append(export)
            if exports and job["rules"]:  # after every export of the policy succeeded
                exports >> CacheExportRetentionOperator(
                    task_id=f"prune_exports_{job['name']}",
                    source_ids=[r["id"] for r in job["resources"]],
                    policy_name=job["name"],
                    rules=job["rules"],
                    export=job["export"],
                    ledger_bucket=policy.defaults.report_bucket,
                    clock_skew_seconds=policy.defaults.clock_skew_tolerance.total_seconds(),
                    **aws,
                )
            if job["rules"]:
                prune = CacheRetentionOperator(
                    task_id=f"prune_{job['name']}",
                    source_ids=[r["id"] for r in job["resources"]],
                    policy_name=job["name"],
                    rules=job["rules"],
                    report_bucket=policy.defaults.report_bucket,
                    clock_skew_seconds=policy.defaults.clock_skew_tolerance.total_seconds(),
                    **aws,
                )
                snapshots >> prune
    globals()[dag.dag_id] = dag
