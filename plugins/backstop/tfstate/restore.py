"""Terraform state restore: find and verify a backup, write it to a local file or (approved) its backend.

Local files are written only inside the restore root (`terraform_state.restore_root`, default
`$AIRFLOW_HOME/backstop-restore`): `..`, absolute paths outside the root, symlinks below it and
existing files are refused, the file is created exclusively with mode 0600, and the task's
result and log name the file, the root and the worker. Why, and why that default: see
backstop.tfstate.localfile.

Which vault (`vault` in the form): `auto` (default) reads the primary vault and falls back to
the DR vault only when the primary cannot be reached: a network error, a 5xx or throttling
left after botocore's retries, or AccessDenied (a region-wide deny or an IAM/KMS outage looks
like that). A missing backup, a deleted version or a checksum mismatch in the primary is not
an outage and fails instead (the message points at `vault=dr`): falling back there would
quietly restore something other than what was asked for. `primary` and `dr` read that vault
only. The write step reads the vault the plan used and writes only the exact backup the plan
(and so the approver) saw: same bucket, key, version and SHA-256.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.tfstate import faults, localfile, vault
from backstop.tfstate import sources as src
from backstop.tfstate.common import RestoreRefusedError, TerraformS3Operator, project_names, source_region
from backstop.tfstate.faults import fail_fast
from backstop.tfstate.state import InvalidStateError, parse_state, sha256_hex


class TerraformStateRestoreOperator(TerraformS3Operator):
    """Plan or perform a restore of one backup; the run's params choose what.

    Params read from the run (`context["params"]`): project, workspace, date ("latest" or
    YYYY-MM-DD), destination ("local_path" | "backend"), local_path, force, vault ("auto" |
    "primary" | "dr", see `locate_backup`).

    :param step: "plan" finds the backup, verifies its checksum and, for the backend, refuses
        an older serial over a newer one unless force (returns facts for the approval form);
        "write" re-reads and re-verifies the backup (from the vault the plan used, and only if
        it is still the backup the plan showed) and writes it to the destination, then reads
        it back to prove the bytes are identical.
    :param projects: the policy's projects as dicts (name, source).
    :param vault: the policy's `terraform_state.vault` as a dict.
    :param plan_task_id: the plan task whose result the write step must match.
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
        plan_task_id: str = "plan",
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
        self.plan_task_id = plan_task_id
        # Shown in the Slack failure alert: the projects until the run says which workspace.
        self.resource_id = project_names(projects)

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
            "vault": params.get("vault") or "auto",
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
        dr = self.client(self.vault["dr"]["region"]) if self.vault.get("dr") else None
        backend = None
        if request["source"]["type"] == "s3_backend":
            backend = self.client(source_region(request["source"], self.region_name))
        if self.step == "plan":
            plan = plan_restore(
                primary, backend, self.vault, request, log=self.log, dr=dr, restore_root=self.restore_root
            )
            # Its own XCom key too, so the approval's body is `plan.output["summary"]` in the DAG file.
            context["ti"].xcom_push(key="summary", value=plan["summary"])
            return plan
        ti = context.get("ti")
        planned = ti.xcom_pull(task_ids=self.plan_task_id) if ti is not None else None
        return write_restore(
            primary,
            backend,
            self.vault,
            request,
            run_id=str(context.get("run_id")),
            log=self.log,
            dr=dr,
            restore_root=self.restore_root,
            planned=planned if isinstance(planned, Mapping) else None,
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


VAULT_CHOICES = ("auto", "primary", "dr")


def _read_backup(client: Any, bucket: str, vault_settings: Mapping[str, Any], request: Mapping[str, Any]):
    """The manifest for the request in one vault and its verified state bytes."""
    manifest = vault.find_manifest(
        client,
        bucket,
        vault_settings.get("prefix", "terraform-state"),
        request["project"],
        request["workspace"],
        request["date"],
    )
    return manifest, vault.read_verified_state(client, manifest, bucket=bucket)


def locate_backup(
    primary: Any, dr: Any | None, vault_settings: Mapping[str, Any], request: Mapping[str, Any], log: Any
) -> tuple[str, dict[str, Any], bytes]:
    """Find and verify the requested backup: ("primary" | "dr", manifest, state bytes).

    `request["vault"]`: "primary" or "dr" read that vault only; "auto" (default) reads the
    primary and falls back to the DR vault only when the primary cannot be reached (network
    error, 5xx or throttling after botocore's retries, access denied: what a regional outage
    or a region-wide deny looks like). A missing or mismatching backup is not an outage: it
    fails, and never silently sends the restore to another vault.
    """
    choice = request.get("vault") or "auto"
    if choice not in VAULT_CHOICES:
        raise RestoreRefusedError(f"vault must be one of {list(VAULT_CHOICES)}, got {choice!r}")
    dr_settings = vault_settings.get("dr")
    if choice == "dr" and (dr is None or not dr_settings):
        raise RestoreRefusedError("vault=dr, but the policy has no terraform_state.vault.dr")
    if choice != "dr":
        try:
            manifest, data = _read_backup(primary, vault_settings["bucket"], vault_settings, request)
            return "primary", manifest, data
        except vault.BackupGoneError as exc:
            hint = "; the DR vault may still hold it: trigger again with vault=dr" if dr_settings else ""
            raise RestoreRefusedError(f"{exc}{hint}") from None
        except vault.VaultError:
            raise
        except Exception as exc:
            if choice == "primary" or dr is None or not dr_settings or not faults.unreachable(exc):
                raise
            log.warning(
                "the primary vault s3://%s is unreachable (%s); reading the DR vault s3://%s (%s) instead",
                vault_settings["bucket"],
                faults.describe(exc),
                dr_settings["bucket"],
                dr_settings["region"],
            )
    try:
        manifest, data = _read_backup(dr, dr_settings["bucket"], vault_settings, request)
    except vault.BackupGoneError as exc:
        raise RestoreRefusedError(f"DR vault: {exc}") from None
    return "dr", manifest, data


def _vault_label(which: str, manifest: Mapping[str, Any], vault_settings: Mapping[str, Any]) -> str:
    if which == "dr":
        return f"the DR vault s3://{manifest['vault_bucket']} ({vault_settings['dr']['region']})"
    return f"the primary vault s3://{manifest['vault_bucket']}"


def plan_restore(
    primary: Any,
    backend: Any,
    vault_settings: Mapping[str, Any],
    request: Mapping[str, Any],
    log: Any,
    *,
    dr: Any | None = None,
    restore_root: str | Path | None = None,
) -> dict[str, Any]:
    """Find and verify the backup, check the destination; returns the plan (facts, no state)."""
    return _plan(primary, backend, vault_settings, request, log, dr=dr, restore_root=restore_root)[0]


def _plan(
    primary, backend, vault_settings, request, log, *, dr, restore_root
) -> tuple[dict[str, Any], bytes]:
    which, manifest, data = locate_backup(primary, dr, vault_settings, request, log)
    facts = parse_state(data)
    origin = _vault_label(which, manifest, vault_settings)
    log.info(
        "backup s3://%s/%s (version %s) in %s verified: sha256 %s, serial %s",
        manifest["vault_bucket"],
        manifest["state_key"],
        manifest.get("state_version_id"),
        origin,
        facts.sha256,
        facts.serial,
    )
    plan = {
        "project": request["project"],
        "workspace": request["workspace"],
        "date": request["date"],
        "destination": request["destination"],
        "force": request["force"],
        "vault": which,
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
            f"Write backup serial {facts.serial} (lineage {facts.lineage}, {manifest['backed_up_at']}, "
            f"from {origin}) to {target}. "
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
            f"Write backup serial {facts.serial} (from {origin}) to {plan['target']} "
            f"(a new file, mode 0600, below the restore root {target.root})"
        )
    return plan, data


_IDENTITY = ("vault_bucket", "state_key", "state_version_id", "sha256")


def write_restore(
    primary: Any,
    backend: Any,
    vault_settings: Mapping[str, Any],
    request: Mapping[str, Any],
    run_id: str,
    log: Any,
    *,
    dr: Any | None = None,
    restore_root: str | Path | None = None,
    planned: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the backup to its destination and read it back.

    Everything is re-verified now, not trusted from plan time. With `planned` (the plan task's
    result: what the approver saw), the write reads the same vault and refuses unless it finds
    the very same backup (bucket, key, version, sha256): a newer backup written during the
    approval wait, or an "auto" choice that would now land on the other vault, is not what was
    approved.
    """
    request = {"run_id": run_id, **request}
    if planned:
        request["vault"] = planned.get("vault") or request.get("vault")
    plan, data = _plan(primary, backend, vault_settings, request, log, dr=dr, restore_root=restore_root)
    manifest = plan["manifest"]
    if planned:
        shown = {k: (planned.get("manifest") or {}).get(k) for k in _IDENTITY}
        found = {k: manifest.get(k) for k in _IDENTITY}
        if shown != found:
            raise RestoreRefusedError(
                f"the backup found now (s3://{found['vault_bucket']}/{found['state_key']} version "
                f"{found['state_version_id']}, sha256 {found['sha256']}) is not the backup the plan showed "
                f"(version {shown['state_version_id']}, sha256 {shown['sha256']}); nothing was written. "
                "Trigger the restore again to see and approve the current one."
            )
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
    if back != data:
        raise RestoreRefusedError(
            f"read-back of {target} differs from the backup (sha256 {sha256_hex(back)})"
        )
    log.info(
        "restored serial %s from %s to %s; read back byte-identical (sha256 %s)",
        manifest["serial"],
        _vault_label(plan["vault"], manifest, vault_settings),
        target,
        manifest["sha256"],
    )
    result = {
        "target": target,
        "version_id": version,
        "sha256": manifest["sha256"],
        "serial": manifest["serial"],
        "lineage": manifest["lineage"],
        "vault": plan["vault"],
        "from": f"s3://{manifest['vault_bucket']}/{manifest['state_key']}",
        "from_version_id": manifest.get("state_version_id"),
        "run_id": run_id,
        "byte_identical": True,
    }
    if request["destination"] != "backend":
        result.update(restore_root=plan["restore_root"], worker=localfile.worker())
    return result
