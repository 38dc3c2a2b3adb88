"""Runbook 3 step 3 without `aws s3 sync`: an incremental, verified, dated copy of a bucket.

For a bucket without replication. Each day's copy lives under `<prefix>/<YYYYMMDD>/` of the
backup bucket and has a manifest, `<prefix>/manifests/<YYYYMMDD>.json`, that lists EVERY source
object with its ETag, size, SHA-256 and where its bytes are stored. Only objects new or changed
since the newest earlier manifest (same key, same ETag and size = unchanged) are copied; the
others point at the folder that already holds them. So a day's manifest is a full inventory
and a restore reads each key from its `stored_at`.

Verified by count (manifest entries = objects listed in the source; every object copied today
is listed in today's folder) and by checksum (the SHA-256 S3 computed for each copy equals the
SHA-256 streamed from the source). A re-run the same day starts from that day's manifest and
copies nothing twice. Nothing is ever deleted, in either bucket.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator
from backstop.aws.hooks import S3_HOOK, LazyHookClass
from backstop.naming import run_date, s3_backup_prefix

MANIFEST_FORMAT = "backstop.s3-backup-manifest/1"


def changed(entry: dict[str, Any] | None, obj: dict[str, Any]) -> bool:
    """New or changed since the previous manifest (ETag or size differ)."""
    return entry is None or entry["etag"] != obj["ETag"] or entry["size"] != obj["Size"]


class S3BackupCopyOperator(BackstopAwsOperator):
    """Copy what is new or changed in `bucket` to today's folder of `backup_bucket`, verify, write the manifest."""

    aws_hook_class = LazyHookClass(S3_HOOK)

    def __init__(self, *, bucket: str, backup_bucket: str, prefix: str, timezone: str = "UTC", **kwargs: Any):
        super().__init__(**kwargs)
        self.bucket = bucket
        self.backup_bucket = backup_bucket
        self.prefix = prefix.strip("/")
        self.timezone = timezone

    def _previous_manifest(self, client: Any, day: str) -> tuple[str | None, dict[str, Any]]:
        folder = f"{self.prefix}/manifests/"
        listed = client.list_objects_v2(Bucket=self.backup_bucket, Prefix=folder).get("Contents", [])
        days = sorted(
            m.group(1) for o in listed if (m := re.fullmatch(re.escape(folder) + r"(\d{8})\.json", o["Key"]))
        )
        earlier = [d for d in days if d <= day]
        if not earlier:
            return None, {}
        body = client.get_object(Bucket=self.backup_bucket, Key=f"{folder}{earlier[-1]}.json")["Body"].read()
        manifest = json.loads(body)
        if manifest.get("format") != MANIFEST_FORMAT:
            raise AirflowFailException(
                f"s3://{self.backup_bucket}/{folder}{earlier[-1]}.json is not a Backstop backup manifest"
            )
        return earlier[-1], {e["key"]: e for e in manifest["objects"]}

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.aws.s3_objects import copy_with_checksum, list_objects, sha256_of

        client = self.hook.conn
        day = run_date(context, self.timezone)
        day_text = f"{day:%Y%m%d}"
        folder = s3_backup_prefix(self.prefix, day)
        since, previous = self._previous_manifest(client, day_text)
        source = list(list_objects(client, self.bucket))  # a generator: counted below
        entries, copied, problems = [], [], []
        for obj in source:
            key = obj["Key"]
            entry = previous.get(key)
            if not changed(entry, obj):
                entries.append(entry)
                continue
            expected = sha256_of(client, self.bucket, key)
            result = copy_with_checksum(client, self.bucket, key, self.backup_bucket, folder + key)
            if result["sha256"] != expected:
                problems.append(f"{key}: copy SHA-256 {result['sha256']} != source {expected}")
            entries.append(
                {
                    "key": key,
                    "etag": obj["ETag"],
                    "size": obj["Size"],
                    "sha256": expected,
                    "stored_at": folder + key,
                    "stored_version_id": result["version_id"],
                }
            )
            copied.append(key)
        stored_today = {o["Key"] for o in list_objects(client, self.backup_bucket, folder)}
        missing = [k for k in copied if folder + k not in stored_today]
        if missing:
            problems.append(f"{len(missing)} copied object(s) not listed in {folder}, e.g. {missing[0]!r}")
        if len(entries) != len(source):
            problems.append(f"manifest lists {len(entries)} objects, the source has {len(source)}")
        manifest = {
            "format": MANIFEST_FORMAT,
            "bucket": self.bucket,
            "date": day_text,
            "incremental_since": since,
            "created_at": datetime.now(UTC).isoformat(),
            "run_id": context.get("run_id"),
            "count": len(entries),
            "copied": len(copied),
            "objects": entries,
        }
        manifest_key = f"{self.prefix}/manifests/{day_text}.json"
        if problems:
            raise AirflowFailException(
                f"Backup copy of {self.bucket} failed verification (no manifest written): "
                + "; ".join(problems)
            )
        client.put_object(
            Bucket=self.backup_bucket,
            Key=manifest_key,
            Body=json.dumps(manifest, indent=2).encode(),
            ChecksumAlgorithm="SHA256",
            ContentType="application/json",
        )
        self.log.info(
            "Backed up %s: %d objects, %d copied, %d unchanged since %s; manifest s3://%s/%s",
            self.bucket,
            len(entries),
            len(copied),
            len(entries) - len(copied),
            since or "-",
            self.backup_bucket,
            manifest_key,
        )
        return {
            "bucket": self.bucket,
            "count": len(entries),
            "copied": copied,
            "unchanged": len(entries) - len(copied),
            "incremental_since": since,
            "manifest": f"s3://{self.backup_bucket}/{manifest_key}",
        }
