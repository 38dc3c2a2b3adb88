"""The DR copy of a DynamoDB table: a point-in-time export to a bucket in the DR region.

On-demand backups are regional and DynamoDB has no copy call. Without AWS Backup the path that
works on a real account is ExportTableToPointInTime (PITR must be on; it reads the PITR
stream, so it costs no read capacity) into an S3 bucket that lives in the DR region, and
ImportTable from that prefix in the DR region when the table is needed (the `dr_export` drill
does exactly that). moto implements both calls (one gzipped DYNAMODB_JSON data file, no
manifest files), so nothing is emulated.

Layout: `s3://<dr bucket>/<prefix>/<table>/<YYYYMMDD>/AWSDynamoDB/<export id>/data/*.json.gz`
(AWS's own layout below the prefix), and Backstop's marker `_backstop-export.json` (tagged
`backstop:managed=true`) beside it, written when the export has completed and been verified.
A re-run of the same date finds the marker and adopts the export. With a ledger bucket, the
export is then named in Backstop's ledger (backstop.dynamodb.export_ledger): retention
(backstop.dynamodb.export_retention) deletes only exports the ledger names.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import aws_template_fields
from backstop.aws import dynamodb as ddb
from backstop.dynamodb.base import DynamoDbOperator, DynamoDbStateTrigger, look
from backstop.naming import MANAGED_TAG, run_date

MARKER = "_backstop-export.json"
MARKER_FORMAT = "backstop.dynamodb-export/1"


def export_prefix(prefix: str, table: str, day: Any) -> str:
    return f"{prefix}/{table}/{day:%Y%m%d}"


def data_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The export's data files under `prefix` (AWS and moto both put them under .../data/)."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/AWSDynamoDB/"):
        keys.extend(o["Key"] for o in page.get("Contents", []) if "/data/" in o["Key"])
    return sorted(keys)


def read_marker(s3: Any, bucket: str, prefix: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}/{MARKER}")["Body"]
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    marker = json.loads(body.read())
    return marker if marker.get("format") == MARKER_FORMAT else None


def newest_export(s3: Any, bucket: str, prefix: str, table: str) -> dict[str, Any] | None:
    """The newest export of `table` with Backstop's marker (dates sort as text)."""
    days = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/{table}/", Delimiter="/"):
        days.extend(p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", []))
    for day_prefix in sorted(days, reverse=True):
        marker = read_marker(s3, bucket, day_prefix)
        if marker is not None:
            return {**marker, "prefix": day_prefix}
    return None


class DynamoDbExportOperator(DynamoDbOperator):
    """Export one table to its DR bucket for this run's date (or adopt that export), verify it.

    :param job: one entry of `backstop.policy.dynamodb.dynamodb_jobs`.
    :param dr: one of the job's `dr_regions` (region, bucket, prefix).
    """

    template_fields = aws_template_fields("job", "dr")

    def __init__(
        self,
        *,
        job: dict[str, Any],
        dr: dict[str, Any],
        timezone: str,
        ledger_bucket: str | None = None,
        ledger_region: str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(job, dict):  # else a template, rendered before execute
            kwargs.setdefault("region_name", job.get("region"))
        kwargs.setdefault("waiter_delay", 30)
        super().__init__(**kwargs)
        self.job = job
        self.dr = dr
        self.timezone = timezone
        self.ledger_bucket = ledger_bucket  # where the export record goes (export_ledger); None: none
        self.ledger_region = ledger_region

    def record(self, marker: dict[str, Any], prefix: str) -> None:
        """Name this export in Backstop's ledger (once), after checking DynamoDB says it is this
        table's export to exactly this bucket and prefix: only then may retention delete it."""
        from backstop.dynamodb.export_ledger import ExportLedger, ExportRecord

        if not self.ledger_bucket:
            return
        ledger = ExportLedger(self.s3(self.ledger_region), self.ledger_bucket)
        if ledger.get(self.dr["region"], self.job["table"], prefix) is not None:
            return
        described = self.client(self.job["region"]).describe_export(ExportArn=marker["export_arn"])[
            "ExportDescription"
        ]
        table_arn = ddb.describe_table(self.client(self.job["region"]), self.job["table"]) or {}
        if (
            described.get("S3Bucket") != self.dr["bucket"]
            or described.get("S3Prefix", "").rstrip("/") != prefix
            or described.get("TableArn") != table_arn.get("TableArn")
        ):
            raise AirflowFailException(
                f"the marker at s3://{self.dr['bucket']}/{prefix} names export {marker['export_arn']}, "
                f"which is not an export of {self.job['table']} to that prefix: not recorded as Backstop's"
            )
        ledger.put(
            ExportRecord(
                table=self.job["table"],
                source_region=self.job["region"],
                dr_region=self.dr["region"],
                bucket=self.dr["bucket"],
                prefix=prefix,
                export_arn=marker["export_arn"],
                export_time=marker["export_time"],
                policy=self.job["policy"],
                tier=self.job["tier"],
                run_id=marker.get("run_id", ""),
            )
        )

    def execute(self, context: Context) -> dict[str, Any]:
        job, dr = self.job, self.dr
        prefix = export_prefix(dr["prefix"], job["table"], run_date(context, self.timezone))
        s3 = self.s3(dr["region"])
        marker = read_marker(s3, dr["bucket"], prefix)
        if marker is not None:
            self.log.info("Export for %s already made: adopting %s", prefix, marker["export_arn"])
            self.record(marker, prefix)
            return {**marker, "how": "adopted"}
        client = self.client(job["region"])
        table = ddb.describe_table(client, job["table"])
        if table is None:
            raise AirflowFailException(f"table {job['table']} does not exist in {job['region']}")
        token = hashlib.sha256(f"{table['TableArn']}|{dr['bucket']}|{prefix}".encode()).hexdigest()[:36]
        export = ddb.export_to_s3(
            client,
            table_arn=table["TableArn"],
            bucket=dr["bucket"],
            prefix=prefix,
            owner=None,
            client_token=token,
        )
        arn = export["ExportArn"]
        self.log.info("Exporting %s to s3://%s/%s (%s)", job["table"], dr["bucket"], prefix, arn)
        state, message = self.wait_or_defer(
            lambda: look(client, "export", arn),
            lambda: DynamoDbStateTrigger(what="export", ident=arn, **self.trigger_connection(job["region"])),
            {"arn": arn, "prefix": prefix},
        )
        return self.finish(context, state, message, arn=arn, prefix=prefix)

    def execute_complete(
        self, context: Context, event: dict[str, Any], arn: str = "", prefix: str = ""
    ) -> dict[str, Any]:
        # dag.test() resumes with the event only (no resume kwargs): both are derivable.
        arn = arn or event["ident"]
        prefix = prefix or export_prefix(
            self.dr["prefix"], self.job["table"], run_date(context, self.timezone)
        )
        return self.finish(context, event["status"], event.get("message", ""), arn=arn, prefix=prefix)

    def finish(self, context: Context, state: str, message: str, *, arn: str, prefix: str) -> dict[str, Any]:
        if state != "success":
            raise RuntimeError(f"export of {self.job['table']} to {self.dr['region']}: {message}")
        described = self.client(self.job["region"]).describe_export(ExportArn=arn)["ExportDescription"]
        s3 = self.s3(self.dr["region"])
        keys = data_keys(s3, self.dr["bucket"], prefix)
        if not keys:
            raise AirflowFailException(
                f"export {arn} says COMPLETED but s3://{self.dr['bucket']}/{prefix} holds no data files"
            )
        marker = {
            "format": MARKER_FORMAT,
            "table": self.job["table"],
            "source_region": self.job["region"],
            "policy": self.job["policy"],
            "export_arn": arn,
            "export_time": (described.get("ExportTime") or datetime.now(UTC)).isoformat()
            if isinstance(described.get("ExportTime"), datetime | None)
            else str(described.get("ExportTime")),
            "item_count": described.get("ItemCount"),
            "data_prefix": keys[0].rsplit("/data/", 1)[0] + "/data/",
            "data_files": len(keys),
            "run_id": str(context["run_id"]),
        }
        s3.put_object(
            Bucket=self.dr["bucket"],
            Key=f"{prefix}/{MARKER}",
            Body=json.dumps(marker, indent=2).encode(),
            ContentType="application/json",
            Tagging=f"{MANAGED_TAG}=true",
        )
        self.record(marker, prefix)
        return {**marker, "bucket": self.dr["bucket"], "region": self.dr["region"], "how": "created"}
