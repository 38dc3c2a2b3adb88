"""The state vault: key layout, writing locked + encrypted backups, finding and reading them.

Layout (one folder per project, workspace and run date in the policy's time zone)::

    <prefix>/<project>/<workspace>/<YYYYMMDD>/terraform.tfstate          the state, byte for byte
    <prefix>/<project>/<workspace>/<YYYYMMDD>/terraform.tfstate.sha256   "<hex>  terraform.tfstate\\n"
    <prefix>/<project>/<workspace>/<YYYYMMDD>/manifest.json              facts, written last

Two changes on one day write the same keys again. Object Lock requires bucket versioning, so
the earlier backup stays as a (still locked) older version; each manifest records the exact
`state_version_id` of the state it describes, so a manifest always points to its own bytes.

"The previous backup" of a workspace is the most recently written manifest under
`<prefix>/<project>/<workspace>/` (newest LastModified, then the later date folder).

Every object is written with SSE-KMS (the vault's key), Object Lock retention (mode and days
from the policy), a SHA-256 checksum header (S3 requires Content-MD5 or a checksum header when
Object Lock applies) and the tag `backstop:managed=true`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from backstop.aws.errors import error_code
from backstop.naming import MANAGED_TAG, tag_value
from backstop.tfstate.state import sha256_hex

STATE_FILE = "terraform.tfstate"
SHA_FILE = "terraform.tfstate.sha256"
MANIFEST_FILE = "manifest.json"


class VaultError(Exception):
    """A backup is missing, incomplete, or does not match its checksum."""


class BackupGoneError(VaultError):
    """The exact object version a manifest names no longer exists (deleted, or never written)."""


class UnsafeNameError(VaultError):
    """A project or workspace name that could leave its folder ('..', '/', control characters)."""


# What Terraform accepts as a workspace name (a URL path segment) minus what could leave a
# folder: '.', '..', '/', '\\' and control characters. The policy checks its own names with the
# same rule; this catches names found at run time (S3 backend listings, the restore form).
_SAFE_NAME = re.compile(r"^(?!\.\.?$)[^/\\\x00-\x1f\x7f]{1,90}$")


def safe_name(value: str, what: str = "workspace") -> str:
    """`value` if it is safe as one key/path segment, else UnsafeNameError naming `what`."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value):
        raise UnsafeNameError(
            f"{what} name {value!r} is not allowed: it must be one path segment, not '.' or '..', "
            "without '/', '\\' or control characters"
        )
    return value


@dataclass(frozen=True)
class BackupKeys:
    folder: str

    @property
    def state(self) -> str:
        return f"{self.folder}/{STATE_FILE}"

    @property
    def sha256(self) -> str:
        return f"{self.folder}/{SHA_FILE}"

    @property
    def manifest(self) -> str:
        return f"{self.folder}/{MANIFEST_FILE}"


def workspace_prefix(prefix: str, project: str, workspace: str) -> str:
    return f"{prefix.strip('/')}/{safe_name(project, 'project')}/{safe_name(workspace)}/"


def backup_keys(prefix: str, project: str, workspace: str, day: date) -> BackupKeys:
    return BackupKeys(f"{workspace_prefix(prefix, project, workspace)}{day:%Y%m%d}")


def sha256_line(digest: str) -> str:
    """The .sha256 object's content, in `sha256sum` format (check with `sha256sum -c`)."""
    return f"{digest}  {STATE_FILE}\n"


def _tagging(tags: dict[str, str]) -> str:
    return urlencode({k: tag_value(v) for k, v in tags.items()})


def put_locked(
    s3: Any,
    *,
    bucket: str,
    key: str,
    body: bytes,
    kms_key_id: str | None,
    lock_mode: str,
    retain_until: datetime,
    tags: dict[str, str],
    content_type: str = "application/octet-stream",
    metadata: dict[str, str] | None = None,
) -> str | None:
    """PutObject with SSE-KMS, Object Lock retention and a SHA-256 checksum; returns the VersionId."""
    kwargs: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "Body": body,
        "ContentType": content_type,
        "ChecksumAlgorithm": "SHA256",
        "ObjectLockMode": lock_mode,
        "ObjectLockRetainUntilDate": retain_until,
        "Tagging": _tagging({MANAGED_TAG: "true", **tags}),
        "Metadata": metadata or {},
        "ServerSideEncryption": "aws:kms",
    }
    if kms_key_id:
        kwargs["SSEKMSKeyId"] = kms_key_id
    return s3.put_object(**kwargs).get("VersionId")


def write_backup(
    s3: Any,
    *,
    bucket: str,
    keys: BackupKeys,
    state: bytes,
    manifest: dict[str, Any],
    kms_key_id: str | None,
    lock_mode: str,
    lock_days: int,
    now: datetime,
    tags: dict[str, str],
) -> dict[str, Any]:
    """Write state, checksum and manifest (in that order: the manifest is the commit marker).

    The manifest's `state_version_id`, `vault_bucket`, `kms_key_id` and `object_lock` are
    filled in for this bucket. Returns the manifest as written.
    """
    digest = sha256_hex(state)
    if digest != manifest["sha256"]:
        raise VaultError("the state changed between the checks and the upload (sha256 mismatch)")
    retain_until = now + timedelta(days=lock_days)
    common = {
        "bucket": bucket,
        "kms_key_id": kms_key_id,
        "lock_mode": lock_mode,
        "retain_until": retain_until,
        "tags": tags,
    }
    version = put_locked(
        s3,
        key=keys.state,
        body=state,
        content_type="application/json",
        metadata={"sha256": digest, "serial": str(manifest["serial"])},
        **common,
    )
    sha_version = put_locked(
        s3, key=keys.sha256, body=sha256_line(digest).encode(), content_type="text/plain", **common
    )
    written = {
        **manifest,
        "vault_bucket": bucket,
        "state_key": keys.state,
        "state_version_id": version,
        "sha256_version_id": sha_version,
        "kms_key_id": kms_key_id,
        "object_lock": {"mode": lock_mode, "days": lock_days, "retain_until": retain_until.isoformat()},
    }
    put_locked(
        s3,
        key=keys.manifest,
        body=json.dumps(written, indent=2, sort_keys=True).encode(),
        content_type="application/json",
        **common,
    )
    return written


def list_backups(s3: Any, bucket: str, prefix: str, project: str, workspace: str) -> list[dict[str, Any]]:
    """Manifest objects of one workspace, oldest first: [{key, date, last_modified}]."""
    base = workspace_prefix(prefix, project, workspace)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for item in page.get("Contents", []):
            rest = item["Key"][len(base) :]
            folder, _, name = rest.partition("/")
            if name == MANIFEST_FILE and len(folder) == 8 and folder.isdigit():
                found.append({"key": item["Key"], "date": folder, "last_modified": item["LastModified"]})
    found.sort(key=lambda b: (b["last_modified"], b["date"]))
    return found


def list_workspaces(s3: Any, bucket: str, prefix: str, project: str) -> list[str]:
    base = f"{prefix.strip('/')}/{project}/"
    names: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            names.add(common["Prefix"][len(base) :].strip("/"))
    return sorted(names)


def read_manifest(s3: Any, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any]:
    kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    return json.loads(s3.get_object(**kwargs)["Body"].read())


def latest_manifest(s3: Any, bucket: str, prefix: str, project: str, workspace: str) -> dict[str, Any] | None:
    """The previous backup: the most recently written manifest of the workspace, or None."""
    backups = list_backups(s3, bucket, prefix, project, workspace)
    if not backups:
        return None
    return read_manifest(s3, bucket, backups[-1]["key"])


def find_manifest(
    s3: Any, bucket: str, prefix: str, project: str, workspace: str, when: str
) -> dict[str, Any]:
    """The manifest for `when` ("latest" or YYYY-MM-DD / YYYYMMDD): the day's newest backup."""
    if when == "latest":
        found = latest_manifest(s3, bucket, prefix, project, workspace)
        if found is None:
            raise VaultError(f"no backup of {project}/{workspace} in s3://{bucket}/{prefix}/")
        return found
    day = when.replace("-", "")
    if len(day) != 8 or not day.isdigit():
        raise VaultError(f"date {when!r} is neither 'latest' nor YYYY-MM-DD")
    key = f"{workspace_prefix(prefix, project, workspace)}{day}/{MANIFEST_FILE}"
    try:
        return read_manifest(s3, bucket, key)
    except s3.exceptions.NoSuchKey:
        days = [b["date"] for b in list_backups(s3, bucket, prefix, project, workspace)]
        raise VaultError(
            f"no backup of {project}/{workspace} on {when} in s3://{bucket}; backups exist for {sorted(days)[-10:]}"
        ) from None


# S3's answers for "that object (version) is not there": GetObject says NoSuchKey/NoSuchVersion,
# HeadObject has no body and says 404/NotFound.
GONE_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})


def _read_exact(s3: Any, bucket: str, key: str, version_id: str | None) -> bytes:
    """The bytes of one object version; BackupGoneError (naming key and version) if it is gone."""
    kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    try:
        return s3.get_object(**kwargs)["Body"].read()
    except Exception as exc:
        code = error_code(exc)
        if code not in GONE_CODES:
            raise
        where = f"s3://{bucket}/{key}" + (f" version {version_id}" if version_id else "")
        raise BackupGoneError(f"backup missing: {where} no longer exists ({code})") from None


def read_verified_state(s3: Any, manifest: dict[str, Any], bucket: str | None = None) -> bytes:
    """The exact state version the manifest describes, after checking its SHA-256 twice:
    against the manifest and against the stored .sha256 object (its exact version too).

    Raises BackupGoneError when either version no longer exists, VaultError on a mismatch.
    """
    bucket = bucket or manifest["vault_bucket"]
    key = manifest["state_key"]
    body = _read_exact(s3, bucket, key, manifest.get("state_version_id"))
    digest = sha256_hex(body)
    if digest != manifest["sha256"]:
        raise VaultError(
            f"checksum mismatch for s3://{bucket}/{key}: sha256 {digest} but the manifest says {manifest['sha256']}"
        )
    sha_key = key[: -len(STATE_FILE)] + SHA_FILE
    line = _read_exact(s3, bucket, sha_key, manifest.get("sha256_version_id")).decode("utf-8", "replace")
    recorded = (line.split() or ["(empty)"])[0]
    if recorded != digest:
        raise VaultError(f"checksum mismatch for s3://{bucket}/{key}: the .sha256 object says {recorded}")
    return body
