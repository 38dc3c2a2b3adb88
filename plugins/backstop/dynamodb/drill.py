"""DynamoDB restore drills: restore into a new table, probe real items, measure RTO/RPO, delete.

One task per (table, kind):

- `pitr`: RestoreTableToPointInTime to `restore_offset` ago, clamped to the restorable window;
- `backup`: RestoreTableFromBackup of the newest AVAILABLE backup the ledger proves is Backstop's;
- `dr_export`: ImportTable in the DR region from the newest export marked by Backstop there.

The new table is `<table>-bsdrill-<kind>-<YYYYMMDD>`. Restores and imports take no tags, so it
is tagged `backstop:managed`, `backstop:drill`, `backstop:expires-at` right after the call that
created it (IAM allows TagResource only on `*-bsdrill-*` tables). The wait is deferrable. Then
the probes run (backstop.dynamodb.probes), RTO = probes done - drill start, RPO = restore point
- the freshness probe's timestamp (backstop.drills.verdict.measure / judge), and the parity
findings record what the restore did not bring along (tags, TTL, streams, PITR, autoscaling).
Whatever happened, the drill table is deleted (only a `-bsdrill-` table tagged managed and
drill: `delete_drill_table`), the report is written to the report bucket and Slack gets one
summary. A failed probe or a missed objective fails the task.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import aws_template_fields
from backstop.aws import dynamodb as ddb
from backstop.drills.times import iso, parse_time, tag_time
from backstop.drills.verdict import judge, measure
from backstop.dynamodb.base import DynamoDbOperator, DynamoDbStateTrigger, look
from backstop.dynamodb.export import newest_export
from backstop.dynamodb.ledger import Ledger, owned_arns
from backstop.dynamodb.probes import run_probes
from backstop.naming import (
    DRILL_TAG,
    DYNAMODB_DRILL_MARK,
    EXPIRES_TAG,
    MANAGED_TAG,
    SOURCE_TAG,
    dynamodb_drill_table,
    is_managed,
    run_date,
)
from backstop.policy.drill_views import RecoveryObjectives

STATE_XCOM = "dynamodb_drill_state"


class NotADrillTable(AirflowFailException):
    """Refused: a drill deletes only the `-bsdrill-` tables it tagged managed and drill."""


def delete_drill_table(client: Any, table: str) -> str:
    """Delete a drill table: "deleted", or "gone". Raises NotADrillTable for anything else."""
    if DYNAMODB_DRILL_MARK not in table:
        raise NotADrillTable(
            f"refusing to delete table {table}: its name is not a drill table's ({DYNAMODB_DRILL_MARK})"
        )
    found = ddb.describe_table(client, table)
    if found is None:
        return "gone"
    tags = ddb.list_tags(client, found["TableArn"])
    if not (is_managed(tags) and tags.get(DRILL_TAG) == "true"):
        raise NotADrillTable(
            f"refusing to delete table {table}: it is not tagged {MANAGED_TAG}=true and {DRILL_TAG}=true, "
            "so Backstop did not make it"
        )
    try:
        client.delete_table(TableName=table)
    except Exception as exc:
        if ddb.is_not_found(exc):
            return "gone"
        raise
    return "deleted"


def parity_findings(source: dict[str, Any], restored: dict[str, Any]) -> list[dict[str, Any]]:
    """What the restored table lacks that the source has (facts, not failures: AWS never restores them)."""

    def row(setting: str, src: Any, got: Any, fix: str) -> dict[str, Any]:
        return {
            "setting": setting,
            "source": src,
            "restored": got,
            "dropped": src != got,
            "restore_step": fix,
        }

    src_tags = {k: v for k, v in source["tags"].items() if not k.startswith("backstop:")}
    got_tags = {k: v for k, v in restored["tags"].items() if not k.startswith("backstop:")}
    return [
        row("tags", src_tags, got_tags, "re-apply the tags (IaC)"),
        row("ttl", source["ttl"], restored["ttl"], "UpdateTimeToLive with the same attribute"),
        row(
            "stream",
            source["stream"],
            restored["stream"],
            "UpdateTable StreamSpecification; repoint consumers",
        ),
        row("pitr", source["pitr"], restored["pitr"], "UpdateContinuousBackups: PITR on"),
        row("billing_mode", source["billing_mode"], restored["billing_mode"], "UpdateTable BillingMode"),
        {
            "setting": "autoscaling",
            "source": "provisioned: scalable targets may exist"
            if source["billing_mode"] == "PROVISIONED"
            else "n/a",
            "restored": "never restored",
            "dropped": source["billing_mode"] == "PROVISIONED",
            "restore_step": "register the scalable targets and scaling policies again (IaC)",
        },
    ]


def table_facts(client: Any, table: str) -> dict[str, Any]:
    found = ddb.describe_table(client, table) or {}
    stream = found.get("StreamSpecification") or {}
    ttl = ddb.describe_ttl(client, table)
    return {
        "tags": ddb.list_tags(client, found["TableArn"]) if found else {},
        "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
        "stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        "pitr": ddb.pitr_description(client, table).get("PointInTimeRecoveryStatus"),
        "billing_mode": (found.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
        "items": found.get("ItemCount"),
    }


class DynamoDbDrillOperator(DynamoDbOperator):
    """One DynamoDB restore drill (see the module docstring).

    :param drill: one entry of `backstop.policy.dynamodb.dynamodb_drills`.
    """

    template_fields = aws_template_fields("drill")

    def __init__(
        self,
        *,
        drill: dict[str, Any],
        timezone: str,
        ledger_bucket: str,
        ledger_region: str,
        report_bucket: str,
        alert_channel: str,
        slack_conn_id: str = "slack_api_default",
        **kwargs: Any,
    ) -> None:
        if isinstance(drill, dict):  # else a template, rendered before execute
            kwargs.setdefault("region_name", drill.get("region"))
        kwargs.setdefault("waiter_delay", 15)
        super().__init__(**kwargs)
        self.drill = drill
        self.timezone = timezone
        self.ledger_bucket = ledger_bucket
        self.ledger_region = ledger_region
        self.report_bucket = report_bucket
        self.alert_channel = alert_channel
        self.slack_conn_id = slack_conn_id

    @property
    def restore_region(self) -> str:
        return self.drill["dr"]["region"] if self.drill["kind"] == "dr_export" else self.drill["region"]

    def execute(self, context: Context) -> dict[str, Any]:
        started = datetime.now(UTC)
        d = self.drill
        target = dynamodb_drill_table(d["table"], d["kind"], run_date(context, self.timezone))
        state = {"started": iso(started), "target": target, "kind": d["kind"], "source": d["table"]}
        try:
            self._preflight(target)
            state |= self._restore(target, started)
        except Exception as exc:
            return self._conclude(context, state, "failed", f"restore: {exc}")
        client = self.client(self.restore_region)
        # The resume kwargs carry the state; dag.test() drops them, so XCom keeps a copy.
        if self.deferrable:
            context["ti"].xcom_push(key=STATE_XCOM, value=state)
        what, ident = ("import", state["import_arn"]) if "import_arn" in state else ("table", target)
        status, message = self.wait_or_defer(
            lambda: look(client, what, ident),
            lambda: DynamoDbStateTrigger(
                what=what, ident=ident, **self.trigger_connection(self.restore_region)
            ),
            {"state": state},
        )
        return self._conclude(context, state, status, message)

    def execute_complete(
        self, context: Context, event: dict[str, Any], state: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if state is None:
            state = context["ti"].xcom_pull(task_ids=self.task_id, key=STATE_XCOM)
        if not state:
            raise AirflowFailException(
                "resumed without the drill's state; the drill table is left to the next run"
            )
        return self._conclude(context, state, event["status"], event.get("message", ""))

    # --- steps ---------------------------------------------------------------------------

    def _preflight(self, target: str) -> None:
        """A leftover drill table of the same name is deleted first; any other table fails the drill."""
        client = self.client(self.restore_region)
        if ddb.describe_table(client, target) is None:
            return
        self.log.warning("Table %s exists (a leftover of an earlier drill?): deleting it first", target)
        delete_drill_table(client, target)  # raises NotADrillTable for a stranger, left alone
        for _ in range(self.waiter_max_attempts):
            if look(client, "table", target)[0] == "not_found":
                return
            self._sleep()
        raise RuntimeError(f"leftover drill table {target} was not deleted in time")

    def _sleep(self) -> None:
        import time

        time.sleep(self.waiter_delay)

    def _restore(self, target: str, started: datetime) -> dict[str, Any]:
        d, client = self.drill, self.client(self.drill["region"])
        source = ddb.describe_table(client, d["table"])
        if source is None:
            raise AirflowFailException(f"source table {d['table']} does not exist in {d['region']}")
        out: dict[str, Any] = {}
        if d["kind"] == "pitr":
            pitr = ddb.pitr_description(client, d["table"])
            if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
                raise AirflowFailException(
                    f"PITR is not enabled on {d['table']}: no point-in-time restore possible"
                )
            wanted = started - timedelta(seconds=d["restore_offset_seconds"])
            earliest, latest = pitr.get("EarliestRestorableDateTime"), pitr.get("LatestRestorableDateTime")
            point = min(max(wanted, earliest or wanted), latest or wanted)
            if point != wanted:
                out["notes"] = [f"restore point {iso(wanted)} clamped to the restorable window: {iso(point)}"]
            created = client.restore_table_to_point_in_time(
                SourceTableName=d["table"], TargetTableName=target, RestoreDateTime=point
            )["TableDescription"]
            out |= {"restore_point": iso(point), "restored_from": f"PITR of {d['table']}"}
        elif d["kind"] == "backup":
            ledger = Ledger(self.s3(self.ledger_region), self.ledger_bucket)
            owners = owned_arns(ledger.for_table(d["region"], d["table"]))
            mine = [
                b for b in ddb.list_backups(client, d["table"]) if b.arn in owners and b.status == "AVAILABLE"
            ]
            if not mine:
                raise AirflowFailException(
                    f"no managed AVAILABLE backup of {d['table']} in {d['region']} to restore"
                )
            backup = max(mine, key=lambda b: b.created_at)
            created = client.restore_table_from_backup(TargetTableName=target, BackupArn=backup.arn)[
                "TableDescription"
            ]
            out |= {
                "restore_point": iso(backup.created_at),
                "restored_from": backup.name,
                "backup_arn": backup.arn,
            }
        else:
            dr = d["dr"]
            export = newest_export(self.s3(dr["region"]), dr["bucket"], dr["prefix"], d["table"])
            if export is None:
                raise AirflowFailException(
                    f"no Backstop export of {d['table']} in s3://{dr['bucket']}/{dr['prefix']}/ ({dr['region']})"
                )
            attrs = {k["AttributeName"] for k in source["KeySchema"]}
            answer = self.client(dr["region"]).import_table(
                S3BucketSource={"S3Bucket": dr["bucket"], "S3KeyPrefix": export["data_prefix"]},
                InputFormat="DYNAMODB_JSON",
                InputCompressionType="GZIP",
                TableCreationParameters={
                    "TableName": target,
                    "KeySchema": source["KeySchema"],
                    "AttributeDefinitions": [
                        a for a in source["AttributeDefinitions"] if a["AttributeName"] in attrs
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            )["ImportTableDescription"]
            created = {"TableArn": answer["TableArn"]}
            out |= {
                "restore_point": export["export_time"],
                "restored_from": f"s3://{dr['bucket']}/{export['prefix']}",
                "import_arn": answer["ImportArn"],
                "export_prefix": export["prefix"],
                "export_arn": export["export_arn"],
            }
        expires = started + timedelta(seconds=d["max_lifetime_seconds"])
        self.client(self.restore_region).tag_resource(
            ResourceArn=created["TableArn"],
            Tags=[
                {"Key": MANAGED_TAG, "Value": "true"},
                {"Key": DRILL_TAG, "Value": "true"},
                {"Key": EXPIRES_TAG, "Value": tag_time(expires)},
                {"Key": SOURCE_TAG, "Value": d["table"]},
            ],
        )
        self.log.info("Restoring %s into %s (%s)", out["restored_from"], target, self.restore_region)
        return out

    def _conclude(self, context: Context, state: dict[str, Any], status: str, message: str) -> dict[str, Any]:
        """Probe, measure, delete the drill table, write the report, tell Slack; fail if it failed."""
        d = self.drill
        target, region = state["target"], self.restore_region
        report: dict[str, Any] = {
            "format": "backstop.dynamodb-drill/1",
            "name": f"{d['table']}-{d['kind']}",
            "kind": f"dynamodb_{d['kind']}",
            "policy": d["policy"],
            "source": d["table"],
            "source_region": d["region"],
            "restore_region": region,
            "table": target,
            "objectives": d["objectives"],
            **{k: v for k, v in state.items() if k not in ("target",)},
        }
        failures: list[str] = []
        try:
            if status != "success":
                failures.append(f"restore: {message}")
            elif state.get("import_arn") and look(self.client(region), "table", target)[0] != "success":
                failures.append(f"restore: imported table {target} is not ACTIVE")
            else:
                client = self.client(region)
                restore_point = parse_time(state["restore_point"])
                checks = run_probes(client, target, d["probes"], restore_point)
                checked_at = datetime.now(UTC)
                measurement = measure(
                    started=parse_time(state["started"]),
                    checked_at=checked_at,
                    restore_point=restore_point,
                    checks=checks,
                )
                objectives = RecoveryObjectives(**d["objectives"])
                verdict = judge(parity_rows=[], checks=checks, measurement=measurement, objectives=objectives)
                failures.extend(verdict.failures)
                report |= {
                    "checks": [c.to_json() for c in checks],
                    "checked_at": iso(checked_at),
                    "rto_seconds": round(measurement.rto_seconds, 3),
                    "rpo_seconds": round(measurement.rpo_seconds, 3),
                    "rpo_basis": measurement.rpo_basis,
                    "rto_met": verdict.rto_met,
                    "rpo_met": verdict.rpo_met,
                    "parity_findings": parity_findings(
                        table_facts(self.client(d["region"]), d["table"]), table_facts(client, target)
                    ),
                    "notes": [*state.get("notes", []), *measurement.notes],
                }
        except Exception as exc:
            failures.append(f"verify: {type(exc).__name__}: {exc}")
        finally:
            try:
                report["teardown"] = delete_drill_table(self.client(region), target)
            except Exception as exc:
                report["teardown"] = f"failed: {exc}"
                failures.append(f"teardown: the drill table {target} was not deleted: {exc}")
        report["passed"] = not failures
        report["failures"] = failures
        if report["passed"] and d["kind"] == "backup" and state.get("backup_arn"):
            self._mark_verified(state)
        if report["passed"] and d["kind"] == "dr_export" and state.get("export_arn"):
            self._mark_export_verified(state)
        self._publish(context, report)
        if failures:
            raise AirflowFailException(f"DynamoDB drill {report['name']} FAILED: " + "; ".join(failures))
        return report

    def _mark_verified(self, state: dict[str, Any]) -> None:
        """The restored backup's ledger record gets restore_verified_at (retention keeps the newest)."""
        ledger = Ledger(self.s3(self.ledger_region), self.ledger_bucket)
        record = ledger.get(self.drill["region"], self.drill["table"], state["restored_from"])
        if record is not None and record.backup_arn == state["backup_arn"]:
            ledger.update(record, restore_verified_at=iso(datetime.now(UTC)))
            state["restore_verified"] = True

    def _mark_export_verified(self, state: dict[str, Any]) -> None:
        """The imported export's ledger record gets restore_verified_at (export retention keeps the newest)."""
        from backstop.dynamodb.export_ledger import ExportLedger

        ledger = ExportLedger(self.s3(self.ledger_region), self.ledger_bucket)
        region = self.drill["dr"]["region"]
        record = ledger.get(region, self.drill["table"], state["export_prefix"])
        if record is not None and record.export_arn == state["export_arn"] and record.deleted_at is None:
            ledger.update(record, restore_verified_at=iso(datetime.now(UTC)))
            state["restore_verified"] = True

    def _publish(self, context: Context, report: dict[str, Any]) -> None:
        from backstop.airflow.slack import post_message, section

        now = datetime.now(UTC)
        run = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(context["run_id"]))
        key = f"reports/drills/{now:%Y%m%d}/dynamodb-{report['name']}-{run}.json"
        try:
            self.s3(self.ledger_region).put_object(
                Bucket=self.report_bucket, Key=key, Body=json.dumps(report, indent=2, default=str).encode()
            )
            report["report_uri"] = f"s3://{self.report_bucket}/{key}"
        except Exception as exc:
            report["report_uri"] = None
            report["failures"].append(f"report: could not write s3://{self.report_bucket}/{key}: {exc}")
            report["passed"] = False
        text = summary_line(report)
        self.log.info("%s", text)
        post_message(self.alert_channel, text, [section(text)], self.slack_conn_id)  # never raises


def summary_line(report: dict[str, Any]) -> str:
    verdict = "PASSED" if report["passed"] else "FAILED"
    head = f"DynamoDB drill {report['name']} {verdict}: {report['source']} -> {report['table']} ({report['restore_region']})"
    if not report["passed"]:
        return f"{head}: " + "; ".join(report["failures"])
    dropped = [f["setting"] for f in report.get("parity_findings", []) if f["dropped"]]
    return (
        f"{head}; {len(report.get('checks', []))} probe(s) passed; RTO {report['rto_seconds']:.1f}s "
        f"(target {report['objectives']['rto_seconds']:.0f}s), RPO {report['rpo_seconds']:.1f}s "
        f"(target {report['objectives']['rpo_seconds']:.0f}s); restore dropped: {', '.join(dropped) or 'nothing'}"
    )
