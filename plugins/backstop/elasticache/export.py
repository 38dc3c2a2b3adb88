"""Export a managed ElastiCache snapshot to S3 and copy it to the DR region, verified.

`CopySnapshot(TargetBucket=...)` writes `<name>-<shard>.rdb` files into a bucket of the
snapshot's region (ElastiCache cannot export across regions); the snapshot is `exporting` until
done, so the wait is the snapshot's own (deferrable). Then each `.rdb` file is copied to the
policy's `dr_bucket` in `dr_region` (server-side, SHA-256 compared with the source's). A re-run
finds the exported files and copies and adopts them: nothing is exported or copied twice.
Only a managed snapshot is exported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.airflow.operators import DeferrableAwsOperator, aws_template_fields
from backstop.aws import elasticache as ec
from backstop.aws.hooks import S3_HOOK, LazyHookClass, make_hook
from backstop.naming import is_managed


class CacheSnapshotExportOperator(DeferrableAwsOperator):
    """:param snapshot: the snapshot task's XCom (`snapshot_name`). :param bucket: export bucket (same region)."""

    aws_hook_class = LazyHookClass(ec.ELASTICACHE_HOOK)
    template_fields = aws_template_fields("snapshot")

    def __init__(
        self,
        *,
        snapshot: Any,
        bucket: str,
        dr_bucket: str | None = None,
        dr_region: str | None = None,
        ledger_bucket: str | None = None,
        ledger_region: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.bucket = bucket
        self.dr_bucket = dr_bucket
        self.dr_region = dr_region
        self.ledger_bucket = ledger_bucket  # export records (backstop.elasticache.export_ledger); None: none
        self.ledger_region = ledger_region

    def _s3(self, region: str | None = None) -> Any:
        return make_hook(
            S3_HOOK,
            aws_conn_id=self.aws_conn_id,
            region_name=region or self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        ).conn

    def _exported(self, name: str) -> list[dict[str, Any]]:
        from backstop.aws.s3_objects import list_objects

        return [o for o in list_objects(self._s3(), self.bucket, f"{name}-") if o["Key"].endswith(".rdb")]

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.airflow.cache_triggers import CacheSnapshotAvailableTrigger

        name = self.snapshot["snapshot_name"]
        client = self.hook.conn
        snapshot = ec.describe_snapshot(client, name)
        if snapshot is None or not is_managed(snapshot.tags):
            raise AirflowFailException(f"snapshot {name} is missing or not managed by Backstop: not exported")
        if self._exported(name):
            self.log.info("Snapshot %s was already exported to s3://%s", name, self.bucket)
        else:
            self.log.info("Exporting snapshot %s to s3://%s", name, self.bucket)
            client.copy_snapshot(SourceSnapshotName=name, TargetSnapshotName=name, TargetBucket=self.bucket)
        state, message = self.wait_or_defer(
            poll=lambda: ec.snapshot_status(client, name),
            trigger=lambda: CacheSnapshotAvailableTrigger(snapshot_name=name, **self.trigger_connection()),
        )
        return self._finish(name, state, message)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        return self._finish(event["snapshot_name"], event["status"], event["message"])

    def _finish(self, name: str, state: str, message: str) -> dict[str, Any]:
        from backstop.aws.s3_objects import copy_with_checksum, list_objects, sha256_of

        if state != "success":
            raise AirflowException(f"export of {name} did not finish: {message}")
        files = self._exported(name)
        if not files:
            raise AirflowException(f"export of {name} finished but s3://{self.bucket}/{name}-*.rdb is empty")
        result: dict[str, Any] = {
            "snapshot_name": name,
            "exported": [f"s3://{self.bucket}/{f['Key']}" for f in files],
            "dr_copies": [],
        }
        if self.dr_bucket:
            source, dr = self._s3(), self._s3(self.dr_region)
            present = {o["Key"]: o for o in list_objects(dr, self.dr_bucket, f"{name}-")}
            for f in files:
                key = f["Key"]
                if key in present and present[key]["Size"] == f["Size"]:
                    result["dr_copies"].append({"key": key, "outcome": "adopted"})
                    continue
                expected = sha256_of(source, self.bucket, key)
                copied = copy_with_checksum(dr, self.bucket, key, self.dr_bucket, key)
                if copied["sha256"] != expected:
                    raise AirflowException(
                        f"DR copy of {key}: SHA-256 {copied['sha256']} != source {expected}"
                    )
                result["dr_copies"].append({"key": key, "outcome": "copied", "sha256": expected})
            self.log.info(
                "Copied %d export file(s) of %s to s3://%s (%s)",
                len(files),
                name,
                self.dr_bucket,
                self.dr_region,
            )
        self._record(name, [f["Key"] for f in files], [c["key"] for c in result["dr_copies"]])
        return result

    def _record(self, name: str, keys: list[str], dr_keys: list[str]) -> None:
        """Name the files in Backstop's export ledger: only those may retention ever delete."""
        from backstop.elasticache.export_ledger import CacheExportLedger, CacheExportRecord, location
        from backstop.naming import POLICY_TAG

        if not self.ledger_bucket:
            return
        snapshot = ec.describe_snapshot(self.hook.conn, name)
        if snapshot is None or not is_managed(snapshot.tags):
            raise AirflowFailException(
                f"snapshot {name} is missing or not managed: its export is not recorded"
            )
        region = self.hook.conn.meta.region_name
        files = {location(region, self.bucket): keys}
        if self.dr_bucket and dr_keys:
            files[location(self.dr_region or region, self.dr_bucket)] = dr_keys
        ledger = CacheExportLedger(self._s3(self.ledger_region), self.ledger_bucket)
        existing = ledger.get(region, name)
        if existing is not None and all(set(v) <= set(existing.files.get(k, [])) for k, v in files.items()):
            return  # a re-run: already recorded
        ledger.put(
            CacheExportRecord(
                snapshot_name=name,
                source_id=snapshot.source_id,
                region=region,
                policy=snapshot.tags.get(POLICY_TAG, ""),
                created_at=(snapshot.created_at or datetime.now(UTC)).strftime(ec.TIME_FORMAT),
                run_id=str(self.snapshot.get("run_id", "")) if isinstance(self.snapshot, dict) else "",
                files=files,
            )
        )
