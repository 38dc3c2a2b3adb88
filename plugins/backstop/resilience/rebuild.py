"""The quarterly rebuild drill (seed Test 4, Runbook 3), built from the existing slices.

- `RebuildStatePlanOperator`: find and verify the newest backup of the project's state in the
  vault (backstop.tfstate.restore.locate_backup: the primary vault, or the DR vault when the
  primary cannot be reached), put it in a scratch working directory (a copy of the project's
  .tf files with a local backend), `terraform init` and `terraform plan -refresh=false`, and
  report every resource the plan would change: drift between the code and the state you would
  rebuild from. The scratch directory is deleted whatever happened; the state never leaves it
  (not logged, not in XCom, not in the report: addresses and actions only).
- The data half is the restore drill of the policy's `restore_drill` (kind dr_snapshot),
  wired in the DAG from backstop.drills' own operators: preflight, restore, wait, verify,
  delete, report.
- `RebuildReportOperator`: the whole rebuild's verdict (no drift, restore verified, instance
  deleted, total within the target), report and Slack summary.

`-refresh=false`: the drill compares code with the backed-up state without reading live
infrastructure (that needs every provider's credentials on the worker); a real rebuild would
apply from exactly this state and code.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import Context

from backstop.aws.hooks import S3_HOOK, LazyHookClass
from backstop.drills.times import iso, parse_time
from backstop.policy.resilience_views import RebuildSpec
from backstop.resilience.evidence import ResilienceDrillOperator
from backstop.tfstate.common import TerraformS3Operator

SCRATCH_OVERRIDE = 'terraform {\n  backend "local" {\n    path = "terraform.tfstate"\n  }\n}\n'


def scratch_plan(config_dir: Path, state: bytes, log: Any) -> list[dict[str, Any]]:
    """`terraform plan` of the code in `config_dir` against `state`, in a scratch folder: the changes."""
    from backstop.tfstate.cli import Terraform

    scratch = Path(tempfile.mkdtemp(prefix="backstop-rebuild-"))
    try:
        for tf_file in sorted(config_dir.glob("*.tf")):
            shutil.copy2(tf_file, scratch / tf_file.name)
        (scratch / "backstop_scratch_override.tf").write_text(SCRATCH_OVERRIDE)
        state_file = scratch / "terraform.tfstate"
        state_file.write_bytes(state)
        state_file.chmod(0o600)
        with Terraform(scratch) as tf:
            tf.init()
            tf.run(
                "plan", "-input=false", "-no-color", "-lock=false", "-refresh=false", "-out=rebuild.tfplan"
            )
            shown = json.loads(tf.run("show", "-json", "rebuild.tfplan", sensitive_output=True))
        changes = [
            {"address": c["address"], "actions": c["change"]["actions"]}
            for c in shown.get("resource_changes") or []
            if c["change"]["actions"] not in (["no-op"], ["read"])
        ]
        log.info("terraform plan against the restored state: %d change(s)", len(changes))
        return changes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class RebuildStatePlanOperator(TerraformS3Operator):
    """Restore the newest state backup into a scratch workspace and plan it: the drift, as facts.

    Returns {project, workspace, vault, serial, lineage, backed_up_at, drift: [{address,
    actions}], started_at}. Fails only when the backup cannot be found or read, or Terraform
    cannot plan; drift is judged by the rebuild report, after the data half has run too.
    """

    def __init__(self, *, spec: RebuildSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    @property
    def resource_id(self) -> str | None:
        """The project/workspace, for the Slack failure alert's "Resource" field."""
        return None if isinstance(self.spec, str) else f"{self.spec.project['name']}/{self.spec.workspace}"

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.policy.loader import REPO_ROOT
        from backstop.tfstate.faults import fail_fast
        from backstop.tfstate.restore import locate_backup
        from backstop.tfstate.state import parse_state

        spec = self.spec
        started = datetime.now(UTC)
        vault = spec.vault
        dr = vault.get("dr")
        request = {
            "project": spec.project["name"],
            "workspace": spec.workspace,
            "date": "latest",
            "vault": "auto",
        }
        with fail_fast(self.resource_id):
            which, manifest, data = locate_backup(
                self.client(spec.vault_region),
                self.client(dr["region"]) if dr else None,
                vault,
                request,
                self.log,
            )
        facts = parse_state(data)
        config_dir = Path(spec.config_dir)
        config_dir = config_dir if config_dir.is_absolute() else REPO_ROOT / config_dir
        drift = scratch_plan(config_dir, data, self.log)
        return {
            "project": spec.project["name"],
            "workspace": spec.workspace,
            "vault": which,
            "state_key": manifest.get("state_key"),
            "serial": facts.serial,
            "lineage": facts.lineage,
            "backed_up_at": manifest.get("backed_up_at"),
            "config_dir": spec.config_dir,
            "drift": drift,
            "started_at": iso(started),
            "planned_at": iso(datetime.now(UTC)),
        }


class RebuildReportOperator(ResilienceDrillOperator):
    """The rebuild's verdict, report and Slack summary (trigger rule all_done: runs whatever happened).

    :param task_ids: step -> task id for "state" (RebuildStatePlanOperator), "verify" (the
        restore drill's verify: its `drill_result`) and "teardown" (its delete_instance).
    """

    aws_hook_class = LazyHookClass(S3_HOOK)
    kind = "rebuild"

    def __init__(
        self,
        *,
        spec: RebuildSpec,
        task_ids: Mapping[str, str],
        report_bucket: str,
        channel: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(spec=spec, report_bucket=report_bucket, channel=channel, deferrable=False, **kwargs)
        self.task_ids = task_ids

    def resource_of(self, spec: RebuildSpec) -> str:
        return f"{spec.project['name']}/{spec.workspace} + {spec.drill.source}"

    def run_drill(self, context: Context) -> dict[str, Any]:
        from backstop.resilience import verdict

        ti = context["ti"]
        state = ti.xcom_pull(task_ids=self.task_ids["state"])
        restore = ti.xcom_pull(task_ids=self.task_ids["verify"], key="drill_result")
        deleted = ti.xcom_pull(task_ids=self.task_ids["teardown"])
        dag_run = context.get("dag_run")
        started = (
            parse_time((state or {}).get("started_at"))
            or getattr(dag_run, "start_date", None)
            or datetime.now(UTC)
        )
        result = verdict.judge_rebuild(
            state=state,
            restore=restore,
            deleted=deleted,
            started_at=started,
            finished_at=datetime.now(UTC),
            target_seconds=self.spec.target_seconds,
        )
        return {
            **result,
            "state": state,
            "restore": {
                "drill": self.spec.drill.name,
                "instance_id": (restore or {}).get("instance_id"),
                "passed": (restore or {}).get("passed"),
                "rto_seconds": (restore or {}).get("rto_seconds"),
                "checks": (restore or {}).get("checks"),
                "failures": (restore or {}).get("failures"),
            }
            if restore
            else None,
            "deleted": deleted,
        }
