"""Freshness of protected DynamoDB tables: the newest backup per region, and the PITR lag.

Targets come from `dynamodb:` (each table, in its policy's region and DR regions). Rows:

- source region: the newest AVAILABLE on-demand backup the ownership ledger names
  (backstop.dynamodb.ledger; backups have no tags), against the tier's `max_age`;
- each DR region: the newest export Backstop marked in that region's bucket (export time);
- `<table> (PITR)` in the source region: LatestRestorableDateTime as the "backup" time, against
  the policy's RPO (5 min in the seed); PITR switched off is a red row, not a missing one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from backstop.freshness.registry import Environment, Found, Target, register
from backstop.freshness.status import Facts

KIND = "dynamodb_table"
PITR_SUFFIX = " (PITR)"


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class DynamoDbSource:
    kinds = (KIND,)

    def __repr__(self) -> str:
        return "DynamoDbSource"

    def targets(self, policy: Any) -> list[Target]:
        out = []
        for item in getattr(policy, "dynamodb", []):
            schedule = policy.schedules[item.tier]
            region = item.region or policy.defaults.region
            for table in item.tables:
                out.append(
                    Target(
                        policy=item.name,
                        kind=KIND,
                        resource=table,
                        regions=(region, *(dr.region for dr in item.dr_regions)),
                        max_age_s=schedule.max_age.total_seconds(),
                        overdue_after_s=None,
                        rpo_s=item.objectives.rpo.total_seconds() if item.objectives else None,
                        channel=item.slack_channel or policy.defaults.slack.channel,
                        spec={
                            "dr": {
                                dr.region: {"bucket": dr.bucket, "prefix": dr.prefix}
                                for dr in item.dr_regions
                            },
                            "ledger_bucket": policy.defaults.report_bucket,
                            "ledger_region": policy.defaults.region,
                        },
                    )
                )
        return out

    def collect(self, targets: list[Target], env: Environment) -> list[Found]:
        from backstop.aws import dynamodb as ddb
        from backstop.dynamodb.export import newest_export
        from backstop.dynamodb.ledger import Ledger, owned_arns

        found: list[Found] = []
        for target in targets:
            table, source_region = target.resource, target.regions[0]
            client = env.client("dynamodb", source_region)
            ledger = Ledger(env.client("s3", target.spec["ledger_region"]), target.spec["ledger_bucket"])
            owners = owned_arns(ledger.for_table(source_region, table))
            mine = [b for b in ddb.list_backups(client, table) if b.arn in owners and b.status == "AVAILABLE"]
            best = max(mine, key=lambda b: b.created_at, default=None)
            verified = max(
                (b for b in mine if owners[b.arn].restore_verified_at),
                key=lambda b: b.created_at,
                default=None,
            )
            base = Facts(
                role="source",
                region=source_region,
                newest_backup_id=best.name if best else None,
                newest_backup_at=best.created_at if best else None,
                max_age_s=target.max_age_s,
                rpo_s=target.rpo_s,
                last_drill=env.last_drill(table, source_region),
            )
            found.append(
                Found(target, table, base, newest_verified_backup_id=verified.name if verified else None)
            )
            found.append(self._pitr_row(target, client, base))
            for region in target.regions[1:]:
                dr = target.spec["dr"][region]
                export = newest_export(env.client("s3", region), dr["bucket"], dr["prefix"], table)
                facts = replace(
                    base,
                    role="dr",
                    region=region,
                    newest_backup_id=export["prefix"] if export else None,
                    newest_backup_at=_parse(export["export_time"]) if export else None,
                    source_backup_id=base.newest_backup_id,
                    source_backup_at=base.newest_backup_at,
                    last_drill=env.last_drill(table, region),
                )
                found.append(Found(target, table, facts))
        return found

    @staticmethod
    def _pitr_row(target: Target, client: Any, base: Facts) -> Found:
        from backstop.aws import dynamodb as ddb

        pitr = ddb.pitr_description(client, target.resource)
        status = pitr.get("PointInTimeRecoveryStatus")
        limit = target.rpo_s or target.max_age_s
        facts = replace(
            base,
            newest_backup_id="continuous backups" if status == "ENABLED" else None,
            newest_backup_at=pitr.get("LatestRestorableDateTime") if status == "ENABLED" else None,
            max_age_s=limit,
            last_drill=None,
        )
        unchecked = None
        if status != "ENABLED":
            unchecked = (
                f"point-in-time recovery is {status} on {target.resource}: nothing newer than the last backup"
            )
        return Found(target, target.resource + PITR_SUFFIX, facts, unchecked=unchecked)


register(DynamoDbSource())
