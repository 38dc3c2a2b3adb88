"""The `s3:` policy section: bucket posture, prefix restores from versions, dated backup copies.

Seeds (dr-plan-triflow.md): scenario 5, objects deleted and restored from their versions;
Runbook 3 step 3, `aws s3 sync` of the production bucket to a dated backup bucket. Hooked into
BackupPolicy by one field; `cross_check` checks the reference to `schedules`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backstop.policy.fields import BucketName, Duration, Region, SlackChannel, Slug, matching


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ReplicationExpectation(_Strict):
    """The bucket must replicate (an enabled rule) to this bucket; `max_failed` replications tolerated."""

    destination_bucket: BucketName


class BackupCopy(_Strict):
    """Runbook 3 step 3 for a bucket without replication: an incremental dated copy.

    Objects go to `s3://<bucket>/<prefix>/<YYYYMMDD>/<key>`; only objects new or changed since
    the newest earlier dated copy are copied, the rest are recorded as unchanged.
    """

    bucket: BucketName
    prefix: Annotated[
        str,
        matching(
            re.compile(r"^(?!\.\.?(/|$))[A-Za-z0-9._-]+(/(?!\.\.?(/|$))[A-Za-z0-9._-]+)*$"),
            "a safe backup prefix",
            "'/'-separated names of letters, digits, '.', '_', '-', with no '.' or '..' segment",
        ),
    ] = "backups"


class ProtectedBucket(_Strict):
    name: BucketName
    region: Region | None = None
    # Versioning is always required: without it there is nothing to restore from (scenario 5).
    replication: ReplicationExpectation | None = None
    object_lock: bool = False
    backup_copy: BackupCopy | None = None

    @model_validator(mode="after")
    def _not_itself(self) -> ProtectedBucket:
        if self.replication is not None and self.replication.destination_bucket == self.name:
            raise ValueError("replication.destination_bucket must differ from the bucket itself")
        if self.backup_copy is not None and self.backup_copy.bucket == self.name:
            raise ValueError("backup_copy.bucket must differ from the bucket itself")
        return self


class S3Policy(_Strict):
    """Buckets Backstop watches and can restore from versions."""

    schedule: Slug = "daily"
    # Noncurrent versions must live at least this long, or a restore cannot reach back that far.
    recovery_window: Duration = timedelta(days=30)
    buckets: list[ProtectedBucket] = Field(min_length=1)
    slack_channel: SlackChannel | None = None

    @model_validator(mode="after")
    def _unique(self) -> S3Policy:
        names = [b.name for b in self.buckets]
        if len(set(names)) != len(names):
            raise ValueError(f"buckets lists a bucket twice: {names}")
        return self


def cross_check(policy: S3Policy | None, schedules: dict[str, object]) -> list[str]:
    if policy is not None and policy.schedule not in schedules:
        return [
            f"s3.schedule: {policy.schedule!r} is not defined under 'schedules' (defined: {sorted(schedules)})"
        ]
    return []
