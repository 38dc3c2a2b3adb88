"""Scenario 5 by hand: restore an S3 prefix to a point in time from object versions.

`S3RestorePlanOperator` checks the form, lists the versions under the prefix, plans with
`restore_plan.plan_prefix_restore` (pure) and writes the dry-run listing to the report bucket.
A person approves in the UI (ApprovalOperator). `S3RestoreApplyOperator` then copies each
planned version over its key (server-side, SHA-256 checked), skips a key whose current version
changed since the plan, and writes the audit record (plan, approver, each copy, checksums).
Nothing is deleted: the versions written since the point in time stay in the history.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import S3_HOOK, LazyHookClass

PREFIX_PATTERN = r"^[^/\s][^\s]*$"


class RestoreInputError(AirflowFailException):
    """The form was filled in wrong: nothing was listed, copied or written."""


def parse_point_in_time(value: Any, now: datetime) -> datetime:
    """An ISO 8601 UTC time (`2026-11-22T01:30:00Z`), not in the future."""
    text = str(value or "").strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RestoreInputError(
            f"point_in_time: {text!r} is not a date-time; expected ISO 8601 UTC, e.g. 2026-11-22T01:30:00Z"
        ) from None
    if when.tzinfo is None:
        raise RestoreInputError(f"point_in_time: {text!r} has no time zone; expected UTC, e.g. {text}Z")
    if when > now:
        raise RestoreInputError(f"point_in_time: {text!r} is in the future (now {now:%Y-%m-%dT%H:%M:%SZ})")
    return when.astimezone(UTC)


def _report_key(bucket: str, run_id: str, when: datetime, suffix: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return f"reports/restores/s3/{when:%Y%m%d}/{bucket}-{safe}{suffix}.json"


class _S3Restore(BackstopAwsOperator):
    aws_hook_class = LazyHookClass(S3_HOOK)

    def __init__(self, *, report_bucket: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_bucket = report_bucket

    def write(self, key: str, document: dict[str, Any]) -> str:
        self.hook.load_string(
            json.dumps(document, indent=2, default=str), key, self.report_bucket, replace=True
        )
        return f"s3://{self.report_bucket}/{key}"


class S3RestorePlanOperator(_S3Restore):
    """Check the form, list versions, plan, write the dry-run listing; XCom: the plan.

    :param bucket: the bucket to restore in (must be a protected bucket).
    :param prefix: the key prefix to restore (no leading '/').
    :param point_in_time: ISO 8601 UTC.
    :param buckets: {bucket: region} of the policy's protected buckets.
    """

    template_fields = aws_template_fields("bucket", "prefix", "point_in_time")

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        point_in_time: str,
        buckets: dict[str, str],
        report_bucket: str,
        **kwargs: Any,
    ):
        super().__init__(report_bucket=report_bucket, **kwargs)
        self.bucket = bucket
        self.prefix = prefix
        self.point_in_time = point_in_time
        self.buckets = buckets

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.aws.s3_objects import list_versions
        from backstop.s3backup.restore_plan import RESTORE, counts, plan_prefix_restore

        now = datetime.now(UTC)
        if self.bucket not in self.buckets:
            raise RestoreInputError(
                f"bucket: {self.bucket!r} is not a protected bucket of the policy (s3.buckets: {sorted(self.buckets)})"
            )
        prefix = str(self.prefix or "")
        if not re.match(PREFIX_PATTERN, prefix):
            raise RestoreInputError(
                f"prefix: {prefix!r} is not a key prefix; expected e.g. 'uploads/workflows/' (not empty, no "
                "leading '/', no spaces)"
            )
        when = parse_point_in_time(self.point_in_time, now)
        region = self.buckets[self.bucket]
        decisions = plan_prefix_restore(list_versions(self.client(region), self.bucket, prefix), when)
        tally = counts(decisions)
        for d in decisions:
            self.log.info("%-10s %s  %s", d["action"], d["key"], d["reason"])
        run_id = str(context.get("run_id"))
        listing = {
            "format": "backstop.s3-restore-plan/1",
            "bucket": self.bucket,
            "prefix": prefix,
            "point_in_time": when.isoformat(),
            "planned_at": now.isoformat(),
            "run_id": run_id,
            "counts": tally,
            "decisions": decisions,
        }
        uri = self.write(_report_key(self.bucket, run_id, now, "-plan"), listing)
        self.log.info("Plan: %s; listing %s", tally, uri)
        return {
            "bucket": self.bucket,
            "region": region,
            "prefix": prefix,
            "point_in_time": when.isoformat(),
            "counts": tally,
            "listing": uri,
            "restores": [
                {k: d[k] for k in ("key", "version_id", "etag", "current_version_id")}
                for d in decisions
                if d["action"] == RESTORE
            ],
        }


class S3RestoreApplyOperator(_S3Restore):
    """Copy each planned version back (after approval), verify its SHA-256, write the audit record."""

    template_fields = aws_template_fields("plan")

    def __init__(
        self, *, plan: Any, report_bucket: str, approval_task_id: str = "approve", **kwargs: Any
    ) -> None:
        super().__init__(report_bucket=report_bucket, **kwargs)
        self.plan = plan
        self.approval_task_id = approval_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.aws.s3_objects import copy_with_checksum, list_versions, sha256_of

        plan = self.plan
        bucket = plan["bucket"]
        client = self.client(plan["region"])
        results, problems = [], []
        for item in plan["restores"]:
            key = item["key"]
            current = next(
                (v for v in list_versions(client, bucket, key) if v.key == key and v.is_latest), None
            )
            if current is None or current.version_id != item["current_version_id"]:
                problems.append(f"{key}: changed since the plan was approved; not restored")
                results.append({**item, "outcome": "skipped-changed"})
                continue
            expected = sha256_of(client, bucket, key, item["version_id"])
            copied = copy_with_checksum(client, bucket, key, bucket, key, item["version_id"])
            ok = copied["sha256"] == expected
            if not ok:
                problems.append(f"{key}: SHA-256 of the restored copy {copied['sha256']} != {expected}")
            results.append(
                {
                    **item,
                    "outcome": "restored" if ok else "checksum-mismatch",
                    "new_version_id": copied["version_id"],
                    "sha256": expected,
                }
            )
            self.log.info("Restored %s to version %s (sha256 %s)", key, item["version_id"], expected)
        ti = context.get("ti")
        approval = ti.xcom_pull(task_ids=self.approval_task_id) if ti is not None else None
        now = datetime.now(UTC)
        audit = {
            "format": "backstop.s3-restore/1",
            "bucket": bucket,
            "prefix": plan["prefix"],
            "point_in_time": plan["point_in_time"],
            "plan_listing": plan["listing"],
            "approved_by": (approval or {}).get("responded_by_user"),
            "run_id": context.get("run_id"),
            "finished_at": now.isoformat(),
            "results": results,
            "problems": problems,
        }
        uri = self.write(_report_key(bucket, str(context.get("run_id")), now, ""), audit)
        if problems:
            raise AirflowFailException(
                f"S3 restore of {bucket}/{plan['prefix']}: " + "; ".join(problems) + f" ({uri})"
            )
        return {"restored": [r["key"] for r in results], "audit": uri}
