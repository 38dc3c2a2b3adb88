"""Monthly restore drills (first Sunday 03:00 Asia/Seoul): prove the backups restore.

One task group per drill in the policy: preflight (source available; a leftover managed
drill instance of the same name is deleted, an unmanaged one fails the drill) -> restore
(setup: PITR with the source's network and parameter groups, or the newest DR-region copy)
-> wait_available (deferrable) -> verify (parity + SQL checks with psycopg, RTO/RPO against
the objectives; fails naming what missed) -> delete_instance (teardown) -> report (teardown:
JSON in the report bucket under reports/drills/, restore-verified tag, Slack summary).

What the run's state means: the drills' verdicts, and that each drill cleaned up and left
its evidence. delete_instance and report are teardowns of restore with trigger rule
all_done (not Airflow's all_done_setup_success: a restore that failed half-way may still
have created an instance, and a drill whose preflight failed still gets a report).
- A FAILED verdict (or any failed step before it) fails the run: verify stays a leaf for the
  run's state because delete_instance does not count on its own (on_failure_fail_dagrun off).
- A failed delete_instance or an unwritten report fails the run too: report counts for the
  run (on_failure_fail_dagrun=True), and it fails, after writing and posting what it could,
  when the teardown did not confirm the deletion or the report could not be written. A green
  run therefore means: verified, deleted, evidenced. A drill instance left behind costs money
  and holds a copy of production data outside its lifecycle (the hourly sweeper is the net,
  not the plan), and a drill without its report proves nothing to an auditor.
  (Were delete_instance itself counted, verify would stop being a leaf and a FAILED verdict
  followed by a clean teardown would turn the run green.)
Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG, TaskGroup

from backstop.airflow.dag_defaults import dag_kwargs, scheduled
from backstop.drills.wiring import restore_drill_tasks
from backstop.policy import load_policy
from backstop.policy.drill_views import drill_dags

policy = load_policy()

for drill_dag in drill_dags(policy):
    with DAG(
        dag_id=drill_dag.dag_id,
        **scheduled(policy, drill_dag.description, policy.schedules[drill_dag.schedule].cron),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["rds", "drill"]),
    ) as dag:
        for spec in drill_dag.drills:
            with TaskGroup(group_id=spec.name):
                restore_drill_tasks(spec, policy)
