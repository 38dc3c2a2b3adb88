"""Manual Terraform state restore: `terraform_state_restore`.

Trigger with the form: project, workspace, date ("latest" or YYYY-MM-DD), destination, vault
(auto | primary | dr; auto reads the DR vault when the primary region cannot be reached).
`plan` finds the backup, verifies its SHA-256 (against the manifest and the .sha256 object)
and, for the backend, refuses to put an older serial over a newer one unless `force`.
- destination `local_path`: `write_local` writes the bytes to a new file (mode 0600) to inspect,
  only inside the restore root (`terraform_state.restore_root`, default
  `$AIRFLOW_HOME/backstop-restore` on the worker); `..`, symlinks and existing files are refused.
- destination `backend`: `approve` waits for a human to approve in the UI (Required Actions),
  then `write_backend` re-verifies, re-checks the serial and writes the state back to its
  backend key. Rejecting skips the write.
Both writes read the result back and fail unless it is byte-identical to the backup.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Param, task

from backstop.airflow.dag_defaults import dag_kwargs
from backstop.policy import load_policy
from backstop.tfstate.restore import TerraformStateRestoreOperator

policy = load_policy()
tf = policy.terraform_state

if tf is not None:
    names = [p.name for p in tf.projects]
    common = {
        "aws_conn_id": policy.defaults.aws_conn_id,
        "region_name": tf.vault.region or policy.defaults.region,
        "projects": [p.model_dump() for p in tf.projects],
        "vault": tf.vault.model_dump(),
        "restore_root": tf.restore_root,
    }
    with DAG(
        dag_id="terraform_state_restore",
        description="Restore a Terraform state from the vault (manual, approval before a backend write)",
        schedule=None,
        doc_md=__doc__,
        params={
            "project": Param(names[0], enum=names, description="project from the policy"),
            "workspace": Param(
                "default",
                type="string",
                pattern=r"^(?!\.\.?$)[^/\\]{1,90}$",
                description="Terraform workspace (default, or a name under env:/)",
            ),
            "date": Param(
                "latest",
                type="string",
                pattern=r"^(latest|\d{4}-\d{2}-\d{2})$",
                description="latest or YYYY-MM-DD",
            ),
            "destination": Param("local_path", enum=["local_path", "backend"]),
            "vault": Param(
                "auto",
                enum=["auto", "primary", "dr"],
                description="auto: the primary vault, or the DR vault"
                + (f" ({tf.vault.dr.region})" if tf.vault.dr else "")
                + " when the primary cannot be reached (outage, access denied; not a missing backup)",
            ),
            "local_path": Param(
                "",
                type="string",
                description="new file to write, relative to the restore root "
                f"({tf.restore_root or '$AIRFLOW_HOME/backstop-restore'}); empty: "
                "<root>/<project>/<workspace>/serial-<n>-<sha256>-<run>.tfstate",
            ),
            "force": Param(
                False, type="boolean", description="allow overwriting a newer serial in the backend"
            ),
        },
        **dag_kwargs(policy, tags=["terraform", "restore"]),
    ):
        plan = TerraformStateRestoreOperator(task_id="plan", step="plan", **common)

        @task.branch(task_id="route")
        def route(params=None) -> str:
            return "approve" if params["destination"] == "backend" else "write_local"

        write_local = TerraformStateRestoreOperator(
            task_id="write_local", step="write", destination="local_path", **common
        )
        approve = ApprovalOperator(
            task_id="approve",
            subject="Restore Terraform state {{ params.project }}/{{ params.workspace }} to its backend?",
            body=plan.output["summary"],
            response_timeout=timedelta(hours=24),
        )
        write_backend = TerraformStateRestoreOperator(
            task_id="write_backend", step="write", destination="backend", **common
        )
        plan >> route() >> [write_local, approve]
        approve >> write_backend
