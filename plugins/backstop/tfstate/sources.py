"""Where states come from: Terraform's S3 backend (every workspace) or a working directory.

S3 backend layout (Terraform's own): the `default` workspace at `key`, every other workspace
at `<workspace_key_prefix>/<workspace>/<key>` (`env:/staging/infrastructure/terraform.tfstate`).
A working directory is read with `terraform state pull`, one call per listed workspace.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backstop.policy.loader import REPO_ROOT


class SourceError(Exception):
    """The source has no state to back up, or the state cannot be read."""


def backend_key(source: Mapping[str, Any], workspace: str) -> str:
    """The S3 key Terraform's S3 backend uses for `workspace`."""
    if workspace == "default":
        return source["key"]
    prefix = source.get("workspace_key_prefix", "env:").strip("/")
    return f"{prefix}/{workspace}/{source['key']}"


def describe(source: Mapping[str, Any], workspace: str) -> str:
    """Human-readable origin of a workspace's state (recorded in manifests; not a secret)."""
    if source["type"] == "s3_backend":
        return f"s3://{source['bucket']}/{backend_key(source, workspace)}"
    return f"terraform state pull in {source['path']} (workspace {workspace})"


def s3_backend_workspaces(s3: Any, source: Mapping[str, Any]) -> list[str]:
    """`default` (when its key exists) plus every workspace found under the workspace prefix."""
    bucket, key = source["bucket"], source["key"]
    prefix = source.get("workspace_key_prefix", "env:").strip("/") + "/"
    found: list[str] = []
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1000).get("Contents", [])
    if any(item["Key"] == key for item in listed):
        found.append("default")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            workspace, _, rest = item["Key"][len(prefix) :].partition("/")
            if workspace and rest == key and workspace not in found:
                found.append(workspace)
    return found


def read_s3_backend(s3: Any, source: Mapping[str, Any], workspace: str) -> bytes:
    key = backend_key(source, workspace)
    try:
        return s3.get_object(Bucket=source["bucket"], Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise SourceError(f"no state at s3://{source['bucket']}/{key}") from None


def working_dir(source: Mapping[str, Any]) -> Path:
    path = Path(source["path"])
    return path if path.is_absolute() else REPO_ROOT / path


def pull_working_dir(source: Mapping[str, Any], workspace: str) -> bytes:
    """`terraform state pull` in the working directory (its own .terraform when initialised)."""
    from backstop.tfstate.cli import Terraform

    folder = working_dir(source)
    own = folder / ".terraform"
    with Terraform(folder, data_dir=own if own.is_dir() else None) as tf:
        if not own.is_dir():
            tf.init()
        data = tf.state_pull(workspace)
    if not data.strip():
        raise SourceError(f"terraform state pull returned no state for workspace {workspace!r} in {folder}")
    return data
