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
            "project": Param(
                names[0],
                type="string",
                enum=names,
                title="Project",
                description="Terraform project from the policy (terraform_state.projects).",
            ),
            "workspace": Param(
                "default",
                type="string",
                pattern=r"^(?!\.\.?$)[^/\\]{1,90}$",
                title="Workspace",
                description="Terraform workspace: default, or a workspace name (its state is under env:/<name>/).",
            ),
            "date": Param(
                "latest",
                type="string",
                pattern=r"^(latest|\d{4}-\d{2}-\d{2})$",
                title="Backup date",
                description="latest, or the day of the backup as YYYY-MM-DD (UTC).",
            ),
            "destination": Param(
                "local_path",
                type="string",
                enum=["local_path", "backend"],
                values_display={
                    "local_path": "a new local file to inspect (safe)",
                    "backend": "back to the backend, after approval (overwrites the live state)",
                },
                title="Destination",
                description="local_path writes a new file and touches nothing else; backend waits for "
                "an approval in Required Actions, then overwrites the live state.",
            ),
            "vault": Param(
                "auto",
                type="string",
                enum=["auto", "primary", "dr"],
                title="Vault",
                description="auto: the primary vault, or the DR vault"
                + (f" ({tf.vault.dr.region})" if tf.vault.dr else "")
                + " when the primary cannot be reached (outage, access denied; not a missing backup)",
            ),
            "local_path": Param(
                None,
                type=["null", "string"],
                title="Local file (optional)",
                description="New file to write, relative to the restore root "
                f"({tf.restore_root or '$AIRFLOW_HOME/backstop-restore'}). Empty: "
                "<root>/<project>/<workspace>/serial-<n>-<sha256>-<run>.tfstate. Ignored for backend.",
            ),
            "force": Param(
                False,
                type="boolean",
                title="Allow an older serial over a newer one (backend only)",
                description="Off: a backend restore that would put an older serial over a newer "
                "state is refused. On: allowed (still only after approval).",
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
