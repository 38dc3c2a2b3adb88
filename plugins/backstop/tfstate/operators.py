"""Terraform state operators: discover workspaces, back up states to the vault, restore them.

All S3 access goes through the amazon provider's S3Hook (built at run time, per region), so the
Airflow connection decides credentials and endpoint. A state holds secrets: it is never
logged, never returned (XCom carries facts only: serial, lineage, sha256, keys), never put in
an exception message or a Slack alert.

Alerting: a rolled-back state (lower serial) or a swapped state (other lineage) fails the
backup task with `StateRollbackError` / `StateSwappedError` (AirflowFailException: no retries,
it will not fix itself in five minutes). The task's normal `SlackFailureAlert` is then the one
and only alert: its text starts with "state rollback:" or "state swapped:" and names the
project/workspace and the serials. No separate message is posted, so there is never a double
alert. Nothing is written for such a state, so every later run alerts again until someone
fixes the backend or accepts the change (manual run with the `accept` param).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import S3_HOOK, LazyHookClass
from backstop.naming import POLICY_TAG, RUN_ID_TAG, SOURCE_TAG, TIER_TAG, run_date
from backstop.tfstate import sources as src
from backstop.tfstate import vault
from backstop.tfstate.state import InvalidStateError, StateFacts, build_manifest, compare, parse_state

POLICY_NAME = "terraform-state"


class StateRollbackError(AirflowFailException):
    """The state's serial is lower than the previous backup's: an older state was put back."""


class StateSwappedError(AirflowFailException):
    """The state's lineage differs from the previous backup's: it was replaced by another state."""


class InvalidTerraformStateError(AirflowFailException):
    """The source does not hold a valid state (format 4 JSON)."""


class RestoreRefusedError(AirflowFailException):
    """The restore would overwrite a newer state (or the backup does not verify)."""


class _S3Operator(BackstopAwsOperator):
    """A Terraform-state step: S3 clients (vault, DR vault, backend) through S3Hook."""

    aws_hook_class = LazyHookClass(S3_HOOK)


def _source_region(source: Mapping[str, Any], default: str | None) -> str | None:
    return source.get("region") or default


# --- backup -----------------------------------------------------------------------------


class TerraformStateTargetsOperator(_S3Operator):
    """One backup job per project and workspace (S3 backend: `default` + every `env:/<ws>/`).

    :param projects: the policy's projects, as dicts (name, source).
    Fails when nothing is found: an empty backup run must not look like a good one.
    """

    template_fields: Sequence[str] = aws_template_fields("projects")

    def __init__(self, *, projects: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.projects = projects

    def execute(self, context: Context) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        for project in self.projects:
            source = project["source"]
            if source["type"] == "s3_backend":
                workspaces = src.s3_backend_workspaces(
                    self.client(_source_region(source, self.region_name)), source
                )
            else:
                workspaces = list(source.get("workspaces") or ["default"])
            self.log.info("%s: workspaces %s (%s)", project["name"], workspaces, source["type"])
            if not workspaces:
                raise AirflowFailException(
                    f"project {project['name']!r}: no Terraform state found at {src.describe(source, 'default')} "
                    "or under its workspace prefix"
                )
            jobs += [{"project": project["name"], "workspace": ws, "source": source} for ws in workspaces]
        return jobs


class TerraformStateBackupOperator(_S3Operator):
    """Back up one workspace's state to the vault (and its DR copy) after the checks.

    :param project: policy project name.
    :param workspace: Terraform workspace ("default" or a name under env:/).
    :param source: the project's source as a dict (type s3_backend | working_dir).
    :param vault: the policy's `terraform_state.vault` as a dict.
    :param tier: the schedule name (tagged on the objects).
    :param timezone: the policy zone; the run date in it names the date folder.
    """

    template_fields: Sequence[str] = aws_template_fields("project", "workspace")

    def __init__(
        self,
        *,
        project: str,
        workspace: str,
        source: dict[str, Any],
        vault: dict[str, Any],
        tier: str = "daily",
        timezone: str = "UTC",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.workspace = workspace
        self.source = source
        self.vault = vault
        self.tier = tier
        self.timezone = timezone
        self.resource_id = f"{project}/{workspace}"  # shown in the Slack failure alert

    def fetch(self) -> bytes:
        if self.source["type"] == "s3_backend":
            return src.read_s3_backend(
                self.client(_source_region(self.source, self.region_name)), self.source, self.workspace
            )
        return src.pull_working_dir(self.source, self.workspace)

    def execute(self, context: Context) -> dict[str, Any]:
        state = self.fetch()
        try:
            facts = parse_state(state)
        except InvalidStateError as exc:
            raise InvalidTerraformStateError(f"{self.resource_id}: {exc}") from None
        where = src.describe(self.source, self.workspace)
        self.log.info(
            "%s: read %s (serial %s, lineage %s, %s resources, terraform %s, sha256 %s)",
            self.resource_id,
            where,
            facts.serial,
            facts.lineage,
            facts.resource_count,
            facts.terraform_version,
            facts.sha256,
        )
        return backup_state(
            state,
            facts,
            primary=self.client(self.vault.get("region") or self.region_name),
            dr=self.client(self.vault["dr"]["region"]) if self.vault.get("dr") else None,
            vault_settings=self.vault,
            project=self.project,
            workspace=self.workspace,
            source=where,
            day=run_date(context, self.timezone),
            run_id=str(context.get("run_id") or ""),
            tier=self.tier,
            accepted=self.resource_id in _accepted(context),
            log=self.log,
        )


def _accepted(context: Context) -> list[str]:
    params = context.get("params") or {}
    value = params.get("accept") if hasattr(params, "get") else None
    return list(value or [])


def backup_state(
    state: bytes,
    facts: StateFacts,
    *,
    primary: Any,
    dr: Any | None,
    vault_settings: Mapping[str, Any],
    project: str,
    workspace: str,
    source: str,
    day: Any,
    run_id: str,
    tier: str,
    accepted: bool = False,
    now: datetime | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """The checks and the writes for one workspace; returns facts only (the task's XCom).

    `action` is "created" (first backup or a changed state), "unchanged" (nothing written,
    the check is recorded in the result and the log) or raises on rollback/swap.
    """
    import logging

    log = log or logging.getLogger(__name__)
    now = now or datetime.now(UTC)
    bucket = vault_settings["bucket"]
    prefix = vault_settings.get("prefix", "terraform-state")
    lock = vault_settings.get("object_lock") or {"mode": "GOVERNANCE", "days": 30}
    resource = f"{project}/{workspace}"
    previous = vault.latest_manifest(primary, bucket, prefix, project, workspace)
    check = compare(facts, previous)
    previous_key = f"s3://{bucket}/{previous['state_key']}" if previous else None
    if check.alerts and not accepted:
        message = (
            f"{check.reason}; {resource} at {source}; previous backup {previous_key}. Nothing was written."
        )
        raise (StateRollbackError if check.decision == "rollback" else StateSwappedError)(message)
    result: dict[str, Any] = {
        "project": project,
        "workspace": workspace,
        "source": source,
        "serial": facts.serial,
        "lineage": facts.lineage,
        "sha256": facts.sha256,
        "resource_count": facts.resource_count,
        "terraform_version": facts.terraform_version,
        "decision": check.decision if not check.alerts else f"{check.decision} (accepted)",
        "reason": check.reason,
        "previous_backup": previous_key,
        "checked_at": now.isoformat(),
    }
    keys = vault.backup_keys(prefix, project, workspace, day)
    tags = {POLICY_TAG: POLICY_NAME, TIER_TAG: tier, RUN_ID_TAG: run_id, SOURCE_TAG: resource}
    dr_settings = vault_settings.get("dr")
    if check.decision == "unchanged":
        log.info(
            "%s: checked, unchanged since %s (%s); no new object written",
            resource,
            previous_key,
            check.reason,
        )
        result["action"] = "unchanged"
        result["vault_key"] = previous_key
        if dr is not None and dr_settings:
            result["dr_copy"] = _ensure_dr_copy(dr, dr_settings, previous, state, lock, now, tags, log)
        return result
    manifest = build_manifest(
        facts,
        project=project,
        workspace=workspace,
        source=source,
        backed_up_at=now.isoformat(),
        run_id=run_id,
        state_key=keys.state,
        state_version_id=None,
        vault_bucket=bucket,
        object_lock={},
        kms_key_id=None,
    )
    written = vault.write_backup(
        primary,
        bucket=bucket,
        keys=keys,
        state=state,
        manifest=manifest,
        kms_key_id=vault_settings.get("kms_key_id"),
        lock_mode=lock["mode"],
        lock_days=int(lock["days"]),
        now=now,
        tags=tags,
    )
    log.info(
        "%s: %s; wrote s3://%s/%s (version %s, %s lock until %s)",
        resource,
        check.reason,
        bucket,
        keys.state,
        written["state_version_id"],
        lock["mode"],
        written["object_lock"]["retain_until"],
    )
    result.update(
        action="created",
        vault_key=f"s3://{bucket}/{keys.state}",
        state_version_id=written["state_version_id"],
        retain_until=written["object_lock"]["retain_until"],
    )
    if dr is not None and dr_settings:
        result["dr_copy"] = _write_dr(dr, dr_settings, keys, state, manifest, lock, now, tags, log)
    return result


def _write_dr(dr, dr_settings, keys, state, manifest, lock, now, tags, log) -> str:
    """Copy a backup to the DR vault: same keys, its own KMS key, the same Object Lock.

    The bytes are written again from memory (already verified against the manifest's sha256)
    rather than with CopyObject, so a KMS key in the source region is never needed to read it.
    """
    vault.write_backup(
        dr,
        bucket=dr_settings["bucket"],
        keys=keys,
        state=state,
        manifest=manifest,
        kms_key_id=dr_settings.get("kms_key_id"),
        lock_mode=lock["mode"],
        lock_days=int(lock["days"]),
        now=now,
        tags=tags,
    )
    log.info(
        "copied to the DR vault s3://%s/%s (%s)", dr_settings["bucket"], keys.state, dr_settings["region"]
    )
    return f"s3://{dr_settings['bucket']}/{keys.state}"


def _ensure_dr_copy(dr, dr_settings, previous, state, lock, now, tags, log) -> str:
    """On an unchanged state, make sure the DR vault holds the previous backup too (a run that
    failed between the primary write and the DR copy is repaired by the next run)."""
    keys = vault.BackupKeys(previous["state_key"].rsplit("/", 1)[0])
    try:
        there = vault.read_manifest(dr, dr_settings["bucket"], keys.manifest)
    except dr.exceptions.NoSuchKey:
        there = None
    if there is not None and there.get("sha256") == previous["sha256"]:
        return f"s3://{dr_settings['bucket']}/{keys.state}"
    log.warning("the DR vault lacks the latest backup; copying it now")
    base = {k: previous[k] for k in previous if k not in ("state_version_id", "sha256_version_id")}
    return _write_dr(dr, dr_settings, keys, state, base, lock, now, tags, log)


# --- restore ----------------------------------------------------------------------------


class TerraformStateRestoreOperator(_S3Operator):
    """Plan or perform a restore of one backup; the run's params choose what.

    Params read from the run (`context["params"]`): project, workspace, date ("latest" or
    YYYY-MM-DD), destination ("local_path" | "backend"), local_path, force.

    :param step: "plan" finds the backup, verifies its checksum and, for the backend, refuses
        an older serial over a newer one unless force (returns facts for the approval form);
        "write" re-reads and re-verifies the backup and writes it to the destination, then
        reads it back to prove the bytes are identical.
    :param projects: the policy's projects as dicts (name, source).
    :param vault: the policy's `terraform_state.vault` as a dict.
    """

    def __init__(
        self,
        *,
        step: str,
        projects: list[dict[str, Any]],
        vault: dict[str, Any],
        destination: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if step not in ("plan", "write"):
            raise ValueError(f"step must be 'plan' or 'write', got {step!r}")
        self.step = step
        self.projects = projects
        self.vault = vault
        self.destination = destination

    def _request(self, context: Context) -> dict[str, Any]:
        params = context.get("params") or {}
        names = {p["name"]: p for p in self.projects}
        project = params.get("project")
        if project not in names:
            raise AirflowFailException(f"unknown project {project!r}; the policy has {sorted(names)}")
        return {
            "project": project,
            "source": names[project]["source"],
            "workspace": params.get("workspace") or "default",
            "date": params.get("date") or "latest",
            "destination": self.destination or params.get("destination") or "local_path",
            "local_path": params.get("local_path") or "",
            "force": bool(params.get("force")),
        }

    def execute(self, context: Context) -> dict[str, Any]:
        request = self._request(context)
        primary = self.client(self.vault.get("region") or self.region_name)
        backend = None
        if request["source"]["type"] == "s3_backend":
            backend = self.client(_source_region(request["source"], self.region_name))
        if self.step == "plan":
            return plan_restore(primary, backend, self.vault, request, log=self.log)
        return write_restore(
            primary, backend, self.vault, request, run_id=str(context.get("run_id")), log=self.log
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


def _default_local_path(request: Mapping[str, Any], manifest: Mapping[str, Any]) -> str:
    import tempfile

    folder = Path(tempfile.gettempdir()) / "backstop-restore" / request["project"] / request["workspace"]
    return str(folder / f"serial-{manifest['serial']}-{manifest['sha256'][:12]}.tfstate")


def plan_restore(
    primary: Any, backend: Any, vault_settings: Mapping[str, Any], request: Mapping[str, Any], log: Any
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
        plan.update(target=request["local_path"] or _default_local_path(request, manifest), backend_now=None)
        plan["summary"] = f"Write backup serial {facts.serial} to {plan['target']}"
    return plan


def write_restore(
    primary: Any,
    backend: Any,
    vault_settings: Mapping[str, Any],
    request: Mapping[str, Any],
    run_id: str,
    log: Any,
) -> dict[str, Any]:
    plan = plan_restore(primary, backend, vault_settings, request, log)  # re-verify now, not at plan time
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
        path = Path(plan["target"])
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o600)
        back = path.read_bytes()
        target = str(path)
        version = None
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
    return {
        "target": target,
        "version_id": version,
        "sha256": manifest["sha256"],
        "serial": manifest["serial"],
        "lineage": manifest["lineage"],
        "from": f"s3://{manifest['vault_bucket']}/{manifest['state_key']}",
        "run_id": run_id,
        "byte_identical": True,
    }
