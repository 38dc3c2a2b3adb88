"""Deterministic names and the `backstop:*` tags.

A name depends only on the resource, the tier and the run's date in the policy's time zone,
so a retry or a re-run of the same date finds what it already created and adopts it. The
`backstop:managed=true` tag is the single test for "Backstop made this": nothing without it
is ever modified or deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

TAG_PREFIX = "backstop:"
MANAGED_TAG = "backstop:managed"
POLICY_TAG = "backstop:policy"
TIER_TAG = "backstop:tier"
RUN_ID_TAG = "backstop:run-id"
SOURCE_TAG = "backstop:source"
SOURCE_ARN_TAG = "backstop:source-arn"
SOURCE_REGION_TAG = "backstop:source-region"
RESTORE_VERIFIED_TAG = "backstop:restore-verified"
# Restore drills and manual restores (backstop.drills)
DRILL_TAG = "backstop:drill"  # with MANAGED_TAG: the only instances drills and the sweeper delete
EXPIRES_TAG = "backstop:expires-at"  # UTC, %Y-%m-%dT%H:%M:%SZ: the sweeper deletes a drill instance after it
PURPOSE_TAG = "backstop:purpose"  # "manual-restore" on instances restored by hand (kept, never swept)
RESTORE_VERIFIED_AT_TAG = "backstop:restore-verified-at"  # when a drill proved the snapshot restores

# RDS snapshot identifiers: 1-255 letters, digits, hyphens; start with a letter; no '--'; no trailing '-'.
_SNAPSHOT_ID = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}(?<!-)$")
# Characters AWS accepts in RDS tag values.
_TAG_VALUE_BAD = re.compile(r"[^\w\s.:/=+\-@]")


class NamingError(ValueError):
    """A generated name would be rejected by AWS."""


def snapshot_name(resource_id: str, tier: str, run_date: date) -> str:
    """`<resource>-<tier>-<YYYYMMDD>`, e.g. `triflow-ai-production-db-weekly-20261122`."""
    name = f"{resource_id}-{tier}-{run_date:%Y%m%d}"
    if not _SNAPSHOT_ID.match(name):
        raise NamingError(
            f"snapshot name {name!r} is not a valid RDS snapshot identifier (letters, digits and "
            "single hyphens, starting with a letter, at most 255 characters)"
        )
    return name


def run_date(context: Mapping[str, Any], timezone: str) -> date:
    """The calendar date of this run in the policy's time zone.

    Scheduled runs use the logical date (the cron fire time: Sunday 03:00 KST is Saturday
    18:00 UTC, so the zone matters). Manual runs without a logical date use `run_after`.
    """
    when: datetime | None = context.get("logical_date")
    if when is None:
        dag_run = context.get("dag_run")
        when = getattr(dag_run, "run_after", None)
    if when is None:
        raise NamingError("the run has neither a logical date nor run_after; cannot name its backups")
    return when.astimezone(ZoneInfo(timezone)).date()


def tag_value(value: str) -> str:
    """Make a value acceptable to AWS tagging (replace disallowed characters, max 256)."""
    return _TAG_VALUE_BAD.sub("_", value)[:256]


def managed_tags(
    *, policy: str, tier: str, run_id: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The tags every Backstop-created resource carries."""
    tags = {
        MANAGED_TAG: "true",
        POLICY_TAG: tag_value(policy),
        TIER_TAG: tag_value(tier),
        RUN_ID_TAG: tag_value(run_id),
    }
    for key, value in (extra or {}).items():
        tags[key] = tag_value(value)
    return tags


def to_tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def from_tag_list(tag_list: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or ()}


def is_managed(tags: Mapping[str, str]) -> bool:
    """True only for resources carrying `backstop:managed=true` (exact, case-sensitive)."""
    return tags.get(MANAGED_TAG) == "true"


# DynamoDB (backstop.dynamodb): backup names and drill tables. Backups carry no tags (see
# backstop.dynamodb.ledger); drill tables are tagged right after the restore creates them.
_DYNAMODB_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
DYNAMODB_DRILL_MARK = "-bsdrill-"  # only drill tables have it; IAM scopes restore/tag/delete to it


def dynamodb_backup_name(table: str, tier: str, run_date: date) -> str:
    """`<table>-<tier>-<YYYYMMDD>`, e.g. `triflow-workflow-state-daily-20261122`."""
    name = f"{table}-{tier}-{run_date:%Y%m%d}"
    if not _DYNAMODB_NAME.match(name):
        raise NamingError(
            f"backup name {name!r} is not a valid DynamoDB backup name (3-255 of A-Z a-z 0-9 _ . -)"
        )
    return name


def dynamodb_drill_table(table: str, kind: str, run_date: date) -> str:
    """`<table>-bsdrill-<kind>-<YYYYMMDD>`: the only tables a DynamoDB drill may delete."""
    name = f"{table}{DYNAMODB_DRILL_MARK}{kind.replace('_', '-')}-{run_date:%Y%m%d}"
    if not _DYNAMODB_NAME.match(name):
        raise NamingError(f"drill table name {name!r} is not a valid DynamoDB table name")
    return name


# ElastiCache and S3 (backstop.elasticache, backstop.s3backup)
CREATED_AT_TAG = (
    "backstop:created-at"  # UTC %Y-%m-%dT%H:%M:%SZ; ElastiCache snapshots' create time if AWS gives none
)
CACHE_DRILL_GROUP = re.compile(r"-drill-20\d{6}$")  # the drill group ids IAM scopes deletes to
_CACHE_GROUP_ID = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,39}(?<!-)$")


def cache_drill_group_id(source_id: str, run_date: date) -> str:
    """`<source>-drill-<YYYYMMDD>`: the replication group an ElastiCache drill creates (max 40)."""
    name = f"{source_id}-drill-{run_date:%Y%m%d}".lower()
    if not _CACHE_GROUP_ID.match(name):
        raise NamingError(
            f"drill group id {name!r} is not a valid ElastiCache replication group id (at most 40 "
            "letters, digits and single hyphens, starting with a letter)"
        )
    return name


def s3_backup_prefix(prefix: str, run_date: date) -> str:
    """`<prefix>/<YYYYMMDD>/`: where a dated S3 backup copy of one day lives."""
    return f"{prefix.strip('/')}/{run_date:%Y%m%d}/"


# The backup account (backstop.bunker): copies keep the source snapshot's name and tags and add
# where they came from; SOURCE_ARN_TAG holds the source snapshot's ARN (its account, region, id).
SOURCE_ACCOUNT_TAG = "backstop:source-account"


def bunker_snapshot_name(source_snapshot_id: str) -> str:
    """The bunker copy of `<db>-<tier>-<YYYYMMDD>` has the same name (its own account's namespace)."""
    if not _SNAPSHOT_ID.match(source_snapshot_id):
        raise NamingError(f"snapshot name {source_snapshot_id!r} is not a valid RDS snapshot identifier")
    return source_snapshot_id
