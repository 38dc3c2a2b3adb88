"""Daily Terraform state backup: `terraform_state_backup` (Runbook 3: a lost state blocks rebuilding).

`discover_workspaces` lists every workspace of every project in the policy (S3 backend: the
`default` key plus each `env:/<workspace>/` state; working directory: the listed workspaces).
`backup` is mapped over them: it checks the state (format 4, same lineage, serial never lower),
writes a locked, KMS-encrypted copy with its SHA-256 and manifest to the vault and the DR vault,
or records that nothing changed. A rollback or swapped state fails its task (one Slack alert).
Wiring only: the logic is in backstop.tfstate.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from backstop.airflow.dag_defaults import dag_kwargs, scheduled
from backstop.policy import load_policy
from backstop.tfstate.backup import TerraformStateBackupOperator, TerraformStateTargetsOperator

policy = load_policy()
tf = policy.terraform_state

if tf is not None:
    with DAG(
        dag_id="terraform_state_backup",
        **scheduled(
            policy,
            policy.schedules[tf.schedule].description or "Terraform state backup",
            policy.schedules[tf.schedule].cron,
        ),
        doc_md=__doc__,
        params={
            "accept": Param(
                [],
                type="array",
                items={"type": "string", "pattern": r"^[^/\s]+/[^/\s]+$"},
                uniqueItems=True,
                title="Accept these state changes (project/workspace)",
                description="project/workspace pairs whose rollback or lineage change is intended: "
                "this run backs them up instead of alerting (manual runs only)",
            )
        },
        **dag_kwargs(policy, tags=["terraform", "state", tf.schedule]),
    ):
        workspaces = TerraformStateTargetsOperator(
            task_id="discover_workspaces",
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=tf.vault.region or policy.defaults.region,
            projects=[p.model_dump() for p in tf.projects],
        )
        TerraformStateBackupOperator.partial(
            task_id="backup",
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=policy.defaults.region,
            vault=tf.vault.model_dump(),
            tier=tf.schedule,
            timezone=policy.defaults.timezone,
            map_index_template="{{ task.project }}/{{ task.workspace }}",
        ).expand_kwargs(workspaces.output)
