"""What the Terraform-state operators share: their errors and their S3 access.

All S3 access goes through the amazon provider's S3Hook (built at run time, per region), so the
Airflow connection decides credentials and endpoint. A state holds secrets: it is never
logged, never returned (XCom carries facts only: serial, lineage, sha256, keys), never put in
an exception message or a Slack alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator
from backstop.aws.hooks import S3_HOOK, LazyHookClass

POLICY_NAME = "terraform-state"


class StateRollbackError(AirflowFailException):
    """The state's serial is lower than the previous backup's: an older state was put back."""


class StateSwappedError(AirflowFailException):
    """The state's lineage differs from the previous backup's: it was replaced by another state."""


class InvalidTerraformStateError(AirflowFailException):
    """The source does not hold a valid state (format 4 JSON)."""


class BackupMissingError(AirflowFailException):
    """The backup a run trusted (the newest manifest's exact object versions) is gone or changed.

    Raised after a new backup has been written, so the state is protected again.
    """


class RestoreRefusedError(AirflowFailException):
    """The restore would overwrite a newer state (or the backup does not verify)."""


class UnsafeRestorePathError(RestoreRefusedError):
    """A local restore path outside the restore root, with '..', through a symlink, or existing."""


class TerraformS3Operator(BackstopAwsOperator):
    """A Terraform-state step: S3 clients (vault, DR vault, backend) through S3Hook."""

    aws_hook_class = LazyHookClass(S3_HOOK)


def source_region(source: Mapping[str, Any], default: str | None) -> str | None:
    return source.get("region") or default


def project_names(projects: Any) -> str:
    """The projects a task covers, for its failure alert (a template string until rendered)."""
    if isinstance(projects, list):
        return ", ".join(str(p.get("name", "?")) if isinstance(p, dict) else str(p) for p in projects)
    return str(projects)
