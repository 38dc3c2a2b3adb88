"""Terraform state restore: find and verify a backup, write it to a local file or (approved) its backend.

Local files are written only inside the restore root (`terraform_state.restore_root`, default
`$AIRFLOW_HOME/backstop-restore`): `..`, absolute paths outside the root, symlinks below it and
existing files are refused, the file is created exclusively with mode 0600, and the task's
result and log name the file, the root and the worker. Why, and why that default: see
backstop.tfstate.localfile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.tfstate import localfile, vault
from backstop.tfstate import sources as src
from backstop.tfstate.common import RestoreRefusedError, TerraformS3Operator, source_region
from backstop.tfstate.faults import fail_fast
from backstop.tfstate.state import InvalidStateError, parse_state


class TerraformStateRestoreOperator(TerraformS3Operator):
    """Plan or perform a restore of one backup; the run's params choose what.

    Params read from the run (`context["params"]`): project, workspace, date ("latest" or
    YYYY-MM-DD), destination ("local_path" | "backend"), local_path, force.

    :param step: "plan" finds the backup, verifies its checksum and, for the backend, refuses
        an older serial over a newer one unless force (returns facts for the approval form);
        "write" re-reads and re-verifies the backup and writes it to the destination, then
        reads it back to prove the bytes are identical.
    :param projects: the policy's projects as dicts (name, source).
    :param vault: the policy's `terraform_state.vault` as a dict.
    :param restore_root: the policy's `terraform_state.restore_root`: local files are written
        only below it (None: `$AIRFLOW_HOME/backstop-restore` on the worker).
    """

    def __init__(
        self,
        *,
        step: str,
        projects: list[dict[str, Any]],
        vault: dict[str, Any],
        destination: str | None = None,
        restore_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if step not in ("plan", "write"):
            raise ValueError(f"step must be 'plan' or 'write', got {step!r}")
        self.step = step
        self.projects = projects
        self.vault = vault
        self.destination = destination
        self.restore_root = restore_root
        # Shown in the Slack failure alert: the projects until the run says which workspace.
        self.resource_id = ", ".join(p["name"] for p in projects)

    def _request(self, context: Context) -> dict[str, Any]:
        params = context.get("params") or {}
        names = {p["name"]: p for p in self.projects}
        project = params.get("project")
        if project not in names:
            raise AirflowFailException(f"unknown project {project!r}; the policy has {sorted(names)}")
        workspace = params.get("workspace") or "default"
        try:
            vault.safe_name(workspace)
        except vault.UnsafeNameError as exc:
            raise RestoreRefusedError(str(exc)) from None
        return {
            "project": project,
            "source": names[project]["source"],
            "workspace": workspace,
            "date": params.get("date") or "latest",
            "destination": self.destination or params.get("destination") or "local_path",
            "local_path": params.get("local_path") or "",
            "force": bool(params.get("force")),
            "run_id": str(context.get("run_id") or ""),
        }

    def execute(self, context: Context) -> dict[str, Any]:
        params = context.get("params") or {}
        if params.get("project"):
            self.resource_id = f"{params['project']}/{params.get('workspace') or 'default'}"
        with fail_fast(self.resource_id):
            return self._execute(context)

    def _execute(self, context: Context) -> dict[str, Any]:
        request = self._request(context)
        primary = self.client(self.vault.get("region") or self.region_name)
        backend = None
        if request["source"]["type"] == "s3_backend":
            backend = self.client(source_region(request["source"], self.region_name))
        if self.step == "plan":
            plan = plan_restore(
                primary, backend, self.vault, request, log=self.log, restore_root=self.restore_root
            )
            # Its own XCom key too, so the approval's body is `plan.output["summary"]` in the DAG file.
            context["ti"].xcom_push(key="summary", value=plan["summary"])
            return plan
        return write_restore(
            primary,
            backend,
            self.vault,
            request,
            run_id=str(context.get("run_id")),
            log=self.log,
            restore_root=self.restore_root,
        )


def _backend_facts(backend: Any, source: Mapping[str, Any], workspace: str) -> dict[str, Any] | None:
    key = src.backend_key(source, workspace)
    try:
        obj = backend.get_object(Bucket=source["bucket"], Key=key)
    except backend.exceptions.NoSuchKey:
        return None
    data = obj["Body"].read()
    try:
        facts = parse_state(data)
    except InvalidStateError as exc:
        return {"valid": False, "problem": str(exc), "version_id": obj.get("VersionId")}
    return {"valid": True, "serial": facts.serial, "lineage": facts.lineage, "sha256": facts.sha256}


def _check_overwrite(current: dict[str, Any] | None, serial: int, force: bool, target: str) -> None:
    if current and current.get("valid") and current["serial"] > serial and not force:
        raise RestoreRefusedError(
            f"refused: {target} holds serial {current['serial']}, newer than the backup's {serial}; "
            "restoring would roll the state back. Trigger again with force=true if that is intended."
        )


def local_target(
    request: Mapping[str, Any], manifest: Mapping[str, Any], restore_root: str | Path | None
) -> localfile.LocalTarget:
    """Where a local restore writes: `local_path` below the root, or by default
    `<root>/<project>/<workspace>/serial-<n>-<sha256[:12]>-<run>.tfstate` (new per run)."""
    run = re.sub(r"[^A-Za-z0-9._-]+", "_", request.get("run_id") or "manual").strip("._") or "manual"
    default = (
        request["project"],
        vault.safe_name(request["workspace"]),
        f"serial-{manifest['serial']}-{manifest['sha256'][:12]}-{run}.tfstate",
    )
    return localfile.confine(request["local_path"], localfile.restore_root(restore_root), default)


def plan_restore(
    primary: Any,
    backend: Any,
    vault_settings: Mapping[str, Any],
    request: Mapping[str, Any],
    log: Any,
    *,
    restore_root: str | Path | None = None,
) -> dict[str, Any]:
    manifest = vault.find_manifest(
        primary,
        vault_settings["bucket"],
        vault_settings.get("prefix", "terraform-state"),
        request["project"],
        request["workspace"],
        request["date"],
    )
    try:
        data = vault.read_verified_state(primary, manifest)
    except vault.VaultError as exc:
        raise RestoreRefusedError(str(exc)) from None
    facts = parse_state(data)
    log.info(
        "backup s3://%s/%s verified: sha256 %s, serial %s",
        manifest["vault_bucket"],
        manifest["state_key"],
        facts.sha256,
        facts.serial,
    )
    plan = {
        "project": request["project"],
        "workspace": request["workspace"],
        "date": request["date"],
        "destination": request["destination"],
        "force": request["force"],
        "manifest": {
            k: manifest[k]
            for k in (
                "vault_bucket",
                "state_key",
                "state_version_id",
                "sha256_version_id",
                "sha256",
                "serial",
                "lineage",
                "backed_up_at",
                "resource_count",
                "terraform_version",
            )
            if k in manifest
        },
    }
    if request["destination"] == "backend":
        if backend is None:
            raise RestoreRefusedError("destination 'backend' needs an s3_backend source; use local_path")
        target = src.describe(request["source"], request["workspace"])
        current = _backend_facts(backend, request["source"], request["workspace"])
        _check_overwrite(current, facts.serial, request["force"], target)
        plan.update(target=target, backend_now=current)
        plan["summary"] = (
            f"Write backup serial {facts.serial} (lineage {facts.lineage}, {manifest['backed_up_at']}) to {target}. "
            + (
                f"The backend now holds serial {current.get('serial')} (lineage {current.get('lineage')})."
                if current
                else "The backend holds no state now."
            )
        )
    else:
        target = local_target(request, manifest, restore_root)  # refuses an escaping path now
        plan.update(target=str(target.path), restore_root=str(target.root), backend_now=None)
        plan["summary"] = (
            f"Write backup serial {facts.serial} to {plan['target']} (a new file, mode 0600, "
            f"below the restore root {target.root})"
        )
    return plan


def write_restore(
    primary: Any,
    backend: Any,
    vault_settings: Mapping[str, Any],
    request: Mapping[str, Any],
    run_id: str,
    log: Any,
    *,
    restore_root: str | Path | None = None,
) -> dict[str, Any]:
    request = {"run_id": run_id, **request}
    # Re-verify now, not at plan time (and re-check the path).
    plan = plan_restore(primary, backend, vault_settings, request, log, restore_root=restore_root)
    manifest = plan["manifest"]
    data = vault.read_verified_state(primary, manifest)
    if request["destination"] == "backend":
        source = request["source"]
        key = src.backend_key(source, request["workspace"])
        put = backend.put_object(
            Bucket=source["bucket"],
            Key=key,
            Body=data,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
        )
        back = backend.get_object(Bucket=source["bucket"], Key=key)["Body"].read()
        target = plan["target"]
        version = put.get("VersionId")
    else:
        local = local_target(request, manifest, restore_root)
        back = localfile.write_new_file(local, data)
        target = str(local.path)
        version = None
        log.info(
            "wrote %s bytes to %s (a new file, mode 0600) below the restore root %s on worker %s",
            len(data),
            target,
            local.root,
            localfile.worker(),
        )
    from backstop.tfstate.state import sha256_hex

    if back != data:
        raise RestoreRefusedError(
            f"read-back of {target} differs from the backup (sha256 {sha256_hex(back)})"
        )
    log.info(
        "restored serial %s to %s; read back byte-identical (sha256 %s)",
        manifest["serial"],
        target,
        manifest["sha256"],
    )
    result = {
        "target": target,
        "version_id": version,
        "sha256": manifest["sha256"],
        "serial": manifest["serial"],
        "lineage": manifest["lineage"],
        "from": f"s3://{manifest['vault_bucket']}/{manifest['state_key']}",
        "run_id": run_id,
        "byte_identical": True,
    }
    if request["destination"] != "backend":
        result.update(restore_root=plan["restore_root"], worker=localfile.worker())
    return result
