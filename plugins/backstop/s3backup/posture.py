"""Posture of a protected bucket: what must hold for scenario 5 (restore from versions) to work.

- versioning `Enabled` (suspended or never enabled: deleted objects are gone);
- replication configured (an enabled rule to the expected bucket) and healthy (no sampled
  object with ReplicationStatus FAILED), where the policy asks;
- Object Lock enabled, where the policy asks;
- no enabled lifecycle rule expiring noncurrent versions sooner than the recovery window.

Every mismatch is listed and fails the task, so the Slack failure alert names it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator
from backstop.aws.hooks import S3_HOOK, LazyHookClass


def posture_problems(expect: dict[str, Any], settings: dict[str, Any], failed_keys: list[str]) -> list[str]:
    """What is wrong with one bucket (pure). `expect` is a `datastore_views.s3_buckets` entry."""
    bucket = expect["bucket"]
    problems = []
    if settings["versioning"] != "Enabled":
        problems.append(
            f"{bucket}: versioning is {settings['versioning']}, expected Enabled (deleted or overwritten "
            "objects cannot be restored)"
        )
    destination = expect.get("replication_destination")
    if destination:
        rules = (settings.get("replication") or {}).get("Rules", [])
        target = f"arn:aws:s3:::{destination}"
        if not any(
            r.get("Status") == "Enabled" and r.get("Destination", {}).get("Bucket") == target for r in rules
        ):
            problems.append(f"{bucket}: no enabled replication rule to {destination}")
        if failed_keys:
            problems.append(
                f"{bucket}: replication FAILED for {len(failed_keys)} sampled object(s), e.g. {failed_keys[0]!r}"
            )
    if (
        expect.get("object_lock")
        and (settings.get("object_lock") or {}).get("ObjectLockEnabled") != "Enabled"
    ):
        problems.append(f"{bucket}: Object Lock is not enabled")
    window = expect["recovery_window_days"]
    for rule in settings.get("lifecycle_rules") or ():
        days = (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
        if rule.get("Status") == "Enabled" and days is not None and days < window:
            problems.append(
                f"{bucket}: lifecycle rule {rule.get('ID') or rule.get('Prefix') or '(unnamed)'!r} expires "
                f"noncurrent versions after {days} days, shorter than the recovery window of {window} days"
            )
    return problems


class S3PostureOperator(BackstopAwsOperator):
    """Check every protected bucket; fail listing every problem (Slack alert), change nothing.

    :param buckets: `backstop.policy.datastore_views.s3_buckets(policy)`.
    """

    aws_hook_class = LazyHookClass(S3_HOOK)

    def __init__(self, *, buckets: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buckets = buckets

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.aws.s3_objects import bucket_settings, replication_failures

        problems: list[str] = []
        for expect in self.buckets:
            client = self.client(expect["region"])
            settings = bucket_settings(client, expect["bucket"])
            failed = (
                replication_failures(client, expect["bucket"])
                if expect.get("replication_destination")
                else []
            )
            problems += posture_problems(expect, settings, failed)
        if problems:
            raise AirflowFailException("S3 posture: " + "; ".join(problems))
        self.log.info("S3 posture OK for %s", ", ".join(b["bucket"] for b in self.buckets))
        return {"checked": [b["bucket"] for b in self.buckets], "problems": []}
