"""The evidence Backstop already writes to the report bucket, read back for the console.

Drill reports (`reports/drills/`), manual-restore reports (`reports/restores/`) and the newest
retention plan (`reports/retention/`). Reads are bounded: the newest `limit` reports, and only the
first `RETENTION_HEAD_BYTES` of a retention plan (its summary comes first, one decision per line,
so a prefix is still a readable plan).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from backstop.aws.s3_objects import list_objects, read_head, read_json

DRILLS_PREFIX = "reports/drills/"
RESTORES_PREFIX = "reports/restores/"
RESILIENCE_PREFIX = "reports/resilience/"  # backstop.resilience.evidence
RETENTION_PREFIX = "reports/retention/"
RETENTION_HEAD_BYTES = 2 * 1024 * 1024
RETENTION_ROWS = 400  # decisions shown; the report in S3 has them all


def newest_keys(client: Any, bucket: str, prefix: str, limit: int) -> list[str]:
    """The `limit` newest object keys under `prefix` (by LastModified, then key)."""
    objects = sorted(
        list_objects(client, bucket, prefix), key=lambda o: (o["LastModified"], o["Key"]), reverse=True
    )
    return [o["Key"] for o in objects[:limit]]


@dataclass(frozen=True)
class DrillRun:
    """One drill report, reduced to what the history table and chart show."""

    key: str
    name: str
    kind: str | None
    source: str | None
    finished_at: str | None
    passed: bool
    rto_seconds: float | None
    rpo_seconds: float | None
    rto_target: float | None
    rpo_target: float | None
    failed_step: str | None
    failure: str | None

    @classmethod
    def of(cls, key: str, report: dict[str, Any]) -> DrillRun:
        objectives = report.get("objectives") or {}
        failures = report.get("failures") or []
        return cls(
            key=key,
            name=str(report.get("name") or "?"),
            kind=report.get("kind"),
            source=report.get("source"),
            finished_at=report.get("finished_at") or report.get("started_at"),
            passed=bool(report.get("passed")),
            rto_seconds=_number(report.get("rto_seconds")),
            rpo_seconds=_number(report.get("rpo_seconds")),
            rto_target=_number(objectives.get("rto_seconds")),
            rpo_target=_number(objectives.get("rpo_seconds")),
            failed_step=report.get("failed_step"),
            failure=str(failures[0]) if failures else None,
        )


def drill_history(client: Any, bucket: str, limit: int = 60) -> list[DrillRun]:
    """The newest drill reports, oldest first (the chart's order)."""
    runs = []
    for key in newest_keys(client, bucket, DRILLS_PREFIX, limit):
        report = read_json(client, bucket, key)
        if isinstance(report, dict):
            runs.append(DrillRun.of(key, report))
    return sorted(runs, key=lambda r: (r.finished_at or "", r.key))


def resilience_history(client: Any, bucket: str, limit: int = 30) -> list[dict[str, Any]]:
    """The newest resilience drill reports (failover, task loss, rebuild), newest first.

    Only the fields the console shows are kept, so nothing else in a report reaches the page."""
    keep = (
        "kind",
        "name",
        "passed",
        "finished_at",
        "failover_seconds",
        "client_downtime_seconds",
        "az_before",
        "az_after",
        "writer_before",  # Aurora cluster failovers
        "writer_after",
        "recovery_seconds",
        "total_seconds",
    )
    out = []
    for key in newest_keys(client, bucket, RESILIENCE_PREFIX, limit):
        report = read_json(client, bucket, key)
        if isinstance(report, dict):
            failures = report.get("failures") or []
            drift = (report.get("state") or {}).get("drift")
            out.append(
                {k: report.get(k) for k in keep}
                | {
                    "key": key,
                    "failure": str(failures[0]) if failures else None,
                    "drift": len(drift) if isinstance(drift, list) else None,
                    "restore_passed": (report.get("restore") or {}).get("passed"),
                }
            )
    return sorted(out, key=lambda r: (str(r.get("finished_at") or ""), r["key"]), reverse=True)


def restore_reports(client: Any, bucket: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest manual-restore reports, newest first, each with its `key`."""
    out = []
    for key in newest_keys(client, bucket, RESTORES_PREFIX, limit):
        report = read_json(client, bucket, key)
        if isinstance(report, dict):
            out.append({**report, "key": key})
    return out


@dataclass
class RetentionPlan:
    """The newest retention plan: its header fields, counts, halted resources and decisions."""

    key: str
    header: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    halted: list[str] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    decisions_total: int | None = None  # from counts; None when unknown
    truncated: bool = False  # only a prefix of the report was read


def latest_retention_plan(client: Any, bucket: str) -> RetentionPlan | None:
    keys = newest_keys(client, bucket, RETENTION_PREFIX, 1)
    if not keys:
        return None
    data, whole = read_head(client, bucket, keys[0], RETENTION_HEAD_BYTES)
    plan = parse_retention_head(keys[0], data)
    plan.truncated = plan.truncated or not whole
    return plan


def parse_retention_head(key: str, data: bytes) -> RetentionPlan:
    """Parse a `backstop.retention/2` report (or a prefix of one) line by line.

    The layout (backstop/retention/report.py) puts each header field, halted entry, group and
    decision on its own line, so a cut-off report still yields its complete lines.
    """
    plan = RetentionPlan(key=key)
    section: str | None = None
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.strip().rstrip(",")
        if not line or line in ("{", "}"):
            continue
        if line == "]":
            section = None
            continue
        if line.endswith("["):  # `"decisions": [`
            section = line.split(":", 1)[0].strip('"')
            continue
        if section is None:
            try:
                plan.header.update(json.loads("{" + line + "}"))
            except ValueError:
                plan.truncated = True
            continue
        try:
            item = json.loads(line)
        except ValueError:  # the last, cut-off line of a prefix
            plan.truncated = True
            continue
        if section == "halted":
            plan.halted.append(str(item))
        elif section == "decisions" and len(plan.decisions) < RETENTION_ROWS:
            plan.decisions.append(item)
        elif section == "decisions":
            plan.truncated = True
    plan.counts = dict(plan.header.pop("counts", {}) or {})
    total = plan.counts.get("snapshots")
    plan.decisions_total = int(total) if isinstance(total, int) else None
    return plan


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
