"""PITR enforcement and on-demand backups of protected DynamoDB tables.

`DynamoDbPitrOperator`: point-in-time recovery must be on. Policy `pitr: enable` turns it on
where it is off (logged, in the result); `pitr: alert` changes nothing and fails (one alert).
Returns the PITR lag (now - LatestRestorableDateTime), the freshness of the continuous backup.

`DynamoDbBackupOperator`: one backup per table and run date, named
`<table>-<tier>-<YYYYMMDD>`, owned through the ledger (backstop.dynamodb.ledger): created,
adopted on a retry or re-run, refused (task fails, nothing touched) when a same-named backup
exists that the ledger does not prove is Backstop's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import aws_template_fields
from backstop.aws import dynamodb as ddb
from backstop.dynamodb.base import DynamoDbOperator, DynamoDbStateTrigger, look
from backstop.dynamodb.ledger import Ledger, LedgerRecord
from backstop.naming import dynamodb_backup_name, run_date


class DynamoDbPitrOperator(DynamoDbOperator):
    """Check (and per policy, enable) point-in-time recovery on one table.

    :param job: one entry of `backstop.policy.dynamodb.dynamodb_jobs` (table, region, pitr).
    """

    template_fields = aws_template_fields("job")

    def __init__(self, *, job: dict[str, Any], **kwargs: Any) -> None:
        if isinstance(job, dict):  # else a template, rendered before execute
            kwargs.setdefault("region_name", job.get("region"))
        super().__init__(**kwargs)
        self.job = job

    def execute(self, context: Context) -> dict[str, Any]:
        table, client = self.job["table"], self.client(self.job["region"])
        if ddb.describe_table(client, table) is None:
            raise AirflowFailException(f"table {table} does not exist in {self.job['region']}")
        pitr = ddb.pitr_description(client, table)
        changed = False
        if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
            if self.job.get("pitr", "enable") != "enable":
                raise AirflowFailException(
                    f"point-in-time recovery is {pitr.get('PointInTimeRecoveryStatus')} on table {table} "
                    f"({self.job['region']}); policy {self.job['policy']!r} says pitr: alert, so Backstop "
                    "did not turn it on: turn it on (or set pitr: enable)"
                )
            self.log.warning("Point-in-time recovery was off on %s: turning it on", table)
            pitr = ddb.enable_pitr(client, table)
            changed = True
        latest = pitr.get("LatestRestorableDateTime")
        lag = (datetime.now(UTC) - latest).total_seconds() if isinstance(latest, datetime) else None
        result = {
            "table": table,
            "region": self.job["region"],
            "pitr": pitr.get("PointInTimeRecoveryStatus"),
            "enabled_now": changed,
            "latest_restorable": latest.isoformat() if isinstance(latest, datetime) else None,
            "lag_seconds": round(lag, 3) if lag is not None else None,
        }
        self.log.info("PITR on %s: %s", table, result)
        return result


class BackupRefused(AirflowFailException):
    """A same-named backup exists that Backstop cannot prove it made: never touched."""


class DynamoDbBackupOperator(DynamoDbOperator):
    """Create (or adopt) today's on-demand backup of one table, wait for it, verify it.

    :param job: one entry of `backstop.policy.dynamodb.dynamodb_jobs`.
    :param ledger_bucket: the bucket holding the ownership ledger (the report bucket).
    :param ledger_region: that bucket's region.
    :param timezone: the policy zone the run date is taken in.
    """

    template_fields = aws_template_fields("job")

    def __init__(
        self, *, job: dict[str, Any], ledger_bucket: str, ledger_region: str, timezone: str, **kwargs: Any
    ) -> None:
        if isinstance(job, dict):  # else a template, rendered before execute
            kwargs.setdefault("region_name", job.get("region"))
        kwargs.setdefault("waiter_delay", 10)
        super().__init__(**kwargs)
        self.job = job
        self.ledger_bucket = ledger_bucket
        self.ledger_region = ledger_region
        self.timezone = timezone

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.s3(self.ledger_region), self.ledger_bucket)

    def execute(self, context: Context) -> dict[str, Any]:
        job, client = self.job, self.client(self.job["region"])
        name = dynamodb_backup_name(job["table"], job["tier"], run_date(context, self.timezone))
        arn, how = self.create_or_adopt(client, name, str(context["run_id"]))
        self.log.info("Backup %s of %s: %s (%s)", name, job["table"], how, arn)
        state, message = self.wait_or_defer(
            lambda: look(client, "backup", arn),
            lambda: DynamoDbStateTrigger(what="backup", ident=arn, **self.trigger_connection(job["region"])),
            {"arn": arn, "name": name, "how": how},
        )
        return self.finish(state, message, arn=arn, name=name, how=how)

    def execute_complete(
        self, context: Context, event: dict[str, Any], arn: str = "", name: str = "", how: str = ""
    ) -> dict[str, Any]:
        # dag.test() resumes with the event only (no resume kwargs): everything is derivable.
        arn = arn or event["ident"]
        name = name or dynamodb_backup_name(
            self.job["table"], self.job["tier"], run_date(context, self.timezone)
        )
        return self.finish(
            event["status"], event.get("message", ""), arn=arn, name=name, how=how or "created"
        )

    def create_or_adopt(self, client: Any, name: str, run_id: str) -> tuple[str, str]:
        """(backup ARN, "created" | "adopted"); raises BackupRefused for a same-named stranger."""
        job, ledger = self.job, self.ledger
        region, table = job["region"], job["table"]
        record = ledger.get(region, table, name)
        same_name = [b for b in ddb.list_backups(client, table) if b.name == name and b.status != "DELETED"]
        mine = [b for b in same_name if record is not None and record.owns(b.arn, b.name, b.created_at)]
        strangers = [b for b in same_name if b not in mine]
        if strangers:
            raise BackupRefused(
                f"a backup named {name} of table {table} ({region}) exists that Backstop did not make "
                f"({', '.join(b.arn for b in strangers)}: no ledger record names it); it is left alone. "
                "Rename or delete it, then clear this task"
            )
        if len(mine) > 1:
            raise BackupRefused(
                f"more than one backup named {name} matches the ledger: {[b.arn for b in mine]}"
            )
        if mine:
            backup = mine[0]
            if record is not None and record.backup_arn is None:
                ledger.update(record, backup_arn=backup.arn, created_at=backup.created_at.isoformat())
            return backup.arn, "adopted"
        if record is None or record.backup_arn is not None:
            # No record, or a record of a backup that is gone: a new intent for this run.
            record = ledger.put(
                LedgerRecord(
                    backup_name=name,
                    table=table,
                    region=region,
                    policy=job["policy"],
                    tier=job["tier"],
                    run_id=run_id,
                    intent_at=datetime.now(UTC).isoformat(),
                )
            )
        details = ddb.create_backup(client, table, name)
        created = details["BackupCreationDateTime"]
        ledger.update(
            record,
            backup_arn=details["BackupArn"],
            created_at=created.isoformat() if isinstance(created, datetime) else str(created),
            run_id=run_id,
        )
        return details["BackupArn"], "created"

    def finish(self, state: str, message: str, *, arn: str, name: str, how: str) -> dict[str, Any]:
        if state != "success":
            raise RuntimeError(f"backup {name} of {self.job['table']}: {message}")
        details = self.client(self.job["region"]).describe_backup(BackupArn=arn)["BackupDescription"]
        backup = details["BackupDetails"]
        source = details.get("SourceTableDetails", {})
        if source.get("TableName") not in (None, self.job["table"]):
            raise AirflowFailException(
                f"backup {name} is of table {source.get('TableName')}, not {self.job['table']}"
            )
        record = self.ledger.get(self.job["region"], self.job["table"], name)
        if record is None or record.backup_arn != arn:
            raise AirflowFailException(f"backup {name}: the ledger does not name {arn}; it is not managed")
        return {
            "table": self.job["table"],
            "region": self.job["region"],
            "policy": self.job["policy"],
            "backup_name": name,
            "backup_arn": arn,
            "how": how,
            "status": backup["BackupStatus"],
            "size_bytes": backup.get("BackupSizeBytes"),
            "items": source.get("ItemCount"),
        }
