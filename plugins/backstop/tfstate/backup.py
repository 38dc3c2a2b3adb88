"""Terraform state backup: discover workspaces, check each state, write it to the vault and the DR vault.

Failing fast: errors that cannot heal (AccessDenied, NoSuchBucket, a missing backup, an
invalid state) fail the task at once, without retries; only throttling, 5xx and network
errors are left to Airflow's retries (backstop.tfstate.faults).

Alerting: a rolled-back state (lower serial) or a swapped state (other lineage) fails the
backup task with `StateRollbackError` / `StateSwappedError` (AirflowFailException: no retries,
it will not fix itself in five minutes). The task's normal `SlackFailureNotifier` is then the one
and only alert: its text starts with "state rollback:" or "state swapped:" and names the
project/workspace and the serials. No separate message is posted, so there is never a double
alert. Nothing is written for such a state, so every later run alerts again until someone
fixes the backend or accepts the change (manual run with the `accept` param).

"Unchanged" must be proved, not assumed. A run whose state has the serial, lineage and bytes
of the newest manifest writes nothing, so it is only safe if the backup that manifest names
still exists: before saying "unchanged" the task reads the exact object versions the
manifest records (state and .sha256) and checks the SHA-256. Someone allowed to bypass
GOVERNANCE retention can delete a locked version; if it is gone (or no longer matches), the
task first writes a new backup of the current state (same keys for the run date, new locked
versions, and the DR copy), then fails with `BackupMissingError` (AirflowFailException: no
retries; one Slack alert from the normal failure callback) naming the missing key and
version and the new one. Write first, then fail: the alert needs a human, the protection must
not wait for one; failing without writing would leave the state without a backup until
someone acts, while writing and staying green would hide a deletion that needs explaining.
The next run trusts the new backup and is green again. The DR copy is checked the same way
(a missing DR manifest alone is the normal repair of a run that died between the two writes:
copied with a warning, no alert).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import aws_template_fields
from backstop.naming import POLICY_TAG, RUN_ID_TAG, SOURCE_TAG, TIER_TAG, run_date
from backstop.tfstate import sources as src
from backstop.tfstate import vault
from backstop.tfstate.common import (
    POLICY_NAME,
    BackupMissingError,
    InvalidTerraformStateError,
    StateRollbackError,
    StateSwappedError,
    TerraformS3Operator,
    project_names,
    source_region,
)
from backstop.tfstate.faults import fail_fast
from backstop.tfstate.state import InvalidStateError, StateFacts, build_manifest, compare, parse_state


class TerraformStateTargetsOperator(TerraformS3Operator):
    """One backup job per project and workspace (S3 backend: `default` + every `env:/<ws>/`).

    :param projects: the policy's projects, as dicts (name, source).
    Fails when nothing is found: an empty backup run must not look like a good one.
    """

    template_fields: Sequence[str] = aws_template_fields("projects")

    def __init__(self, *, projects: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.projects = projects
        # Shown in the Slack failure alert: every project, then the one being discovered.
        self.resource_id = project_names(projects)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        for project in self.projects:
            self.resource_id = project["name"]
            source = project["source"]
            if source["type"] == "s3_backend":
                with fail_fast(f"project {project['name']!r}"):
                    workspaces = src.s3_backend_workspaces(
                        self.client(source_region(source, self.region_name)), source
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
        self.resource_id = project_names(self.projects)
        return jobs


class TerraformStateBackupOperator(TerraformS3Operator):
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
                self.client(source_region(self.source, self.region_name)), self.source, self.workspace
            )
        return src.pull_working_dir(self.source, self.workspace)

    def execute(self, context: Context) -> dict[str, Any]:
        with fail_fast(self.resource_id):
            return self._backup(context)

    def _backup(self, context: Context) -> dict[str, Any]:
        vault.safe_name(self.workspace)  # a name found in the backend becomes a vault key
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
    "Unchanged" is said only after reading the exact version the previous manifest names and
    checking its SHA-256; if it is gone, a new backup is written and then BackupMissingError
    is raised (see the module docstring).
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
    dr_settings = vault_settings.get("dr") if dr is not None else None
    write = _Writer(primary, dr, vault_settings, dr_settings, keys, state, lock, now, tags, log)
    if check.decision == "unchanged":
        # "Unchanged" trusts the previous backup: prove that exact version is still there and
        # still matches its checksum before saying so.
        try:
            vault.read_verified_state(primary, previous)
        except vault.VaultError as exc:
            problem = f"{exc}; the previous backup of {resource} cannot be trusted"
            log.error("%s; writing a new backup now, then failing this task", problem)
            written = write.backup(_manifest(facts, resource, source, now, run_id, keys, bucket), check)
            raise BackupMissingError(
                f"{exc}; wrote a new backup s3://{bucket}/{keys.state} version "
                f"{written['state_version_id']}{' and its DR copy' if dr_settings else ''} "
                f"so {resource} is protected again; find out who deleted or changed it"
            ) from None
        log.info(
            "%s: checked, unchanged since %s (version %s still there, sha256 verified); no new object written",
            resource,
            previous_key,
            previous.get("state_version_id"),
        )
        result.update(
            action="unchanged", vault_key=previous_key, state_version_id=previous.get("state_version_id")
        )
        if dr_settings:
            result["dr_copy"] = write.ensure_dr_copy(previous)
        return result
    written = write.backup(_manifest(facts, resource, source, now, run_id, keys, bucket), check)
    result.update(
        action="created",
        vault_key=f"s3://{bucket}/{keys.state}",
        state_version_id=written["state_version_id"],
        retain_until=written["object_lock"]["retain_until"],
    )
    if dr_settings:
        result["dr_copy"] = f"s3://{dr_settings['bucket']}/{keys.state}"
    return result


def _manifest(facts, resource, source, now, run_id, keys, bucket) -> dict[str, Any]:
    project, _, workspace = resource.partition("/")
    return build_manifest(
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


class _Writer:
    """Writes one workspace's backup into the primary vault and its DR copy."""

    def __init__(self, primary, dr, settings, dr_settings, keys, state, lock, now, tags, log) -> None:
        self.primary, self.dr = primary, dr
        self.settings, self.dr_settings = settings, dr_settings
        self.keys, self.state, self.lock, self.now, self.tags, self.log = keys, state, lock, now, tags, log

    def _write(self, client, settings, keys, manifest) -> dict[str, Any]:
        """One backup into one vault (primary or DR): its bucket, its KMS key, the policy's Object Lock."""
        return vault.write_backup(
            client,
            bucket=settings["bucket"],
            keys=keys,
            state=self.state,
            manifest=manifest,
            kms_key_id=settings.get("kms_key_id"),
            lock_mode=self.lock["mode"],
            lock_days=int(self.lock["days"]),
            now=self.now,
            tags=self.tags,
        )

    def backup(self, manifest: dict[str, Any], check: Any) -> dict[str, Any]:
        """The primary write, then the DR copy; returns the primary's manifest as written."""
        written = self._write(self.primary, self.settings, self.keys, manifest)
        self.log.info(
            "%s: %s; wrote s3://%s/%s (version %s, %s lock until %s)",
            self.tags[SOURCE_TAG],
            check.reason,
            self.settings["bucket"],
            self.keys.state,
            written["state_version_id"],
            self.lock["mode"],
            written["object_lock"]["retain_until"],
        )
        if self.dr_settings:
            self._write_dr(self.keys, manifest)
        return written

    def _write_dr(self, keys: vault.BackupKeys, manifest: dict[str, Any]) -> dict[str, Any]:
        """Copy a backup to the DR vault: same keys, its own KMS key, the same Object Lock.

        The bytes are written again from memory (already verified against the manifest's
        sha256) rather than with CopyObject, so a KMS key in the source region is never needed
        to read it.
        """
        written = self._write(self.dr, self.dr_settings, keys, manifest)
        self.log.info(
            "copied to the DR vault s3://%s/%s (%s, version %s)",
            self.dr_settings["bucket"],
            keys.state,
            self.dr_settings["region"],
            written["state_version_id"],
        )
        return written

    def ensure_dr_copy(self, previous: dict[str, Any]) -> str:
        """On an unchanged state, make sure the DR vault holds the previous backup too.

        No DR manifest for it: a run failed between the primary write and the DR copy; copy it
        now (a warning, no alert: the next run repairing it is the design). A DR manifest whose
        exact state or checksum version is gone or does not match: someone deleted or changed
        a locked DR object; write it again, then fail with BackupMissingError (one alert).
        """
        bucket = self.dr_settings["bucket"]
        keys = vault.BackupKeys(previous["state_key"].rsplit("/", 1)[0])
        try:
            there = vault.read_manifest(self.dr, bucket, keys.manifest)
        except self.dr.exceptions.NoSuchKey:
            there = None
        base = {k: v for k, v in previous.items() if k not in ("state_version_id", "sha256_version_id")}
        if there is None or there.get("sha256") != previous["sha256"]:
            self.log.warning("the DR vault lacks the latest backup; copying it now")
            self._write_dr(keys, base)
            return f"s3://{bucket}/{keys.state}"
        try:
            vault.read_verified_state(self.dr, there, bucket=bucket)
        except vault.VaultError as exc:
            self.log.error("DR vault: %s; writing the DR copy again, then failing this task", exc)
            written = self._write_dr(keys, base)
            raise BackupMissingError(
                f"DR vault: {exc}; wrote the DR copy again (version {written['state_version_id']}) "
                f"so {self.tags[SOURCE_TAG]} is protected in {self.dr_settings['region']} again; "
                "find out who deleted or changed it"
            ) from None
        return f"s3://{bucket}/{keys.state}"
