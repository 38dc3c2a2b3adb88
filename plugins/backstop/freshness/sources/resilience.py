"""Freshness of the resilience drills: is the newest failover / task-loss / rebuild drill recent, and did it pass?

One row per drill of the policy's `resilience:` section (resource = the drill's name, region =
the drill's region), read from its newest report in the report bucket,
`reports/resilience/<YYYYMMDD>/<drill>-<run id>.json` (backstop.resilience.evidence: `kind`,
`passed`, `finished_at`, `failover_seconds`, `client_downtime_seconds`, `recovery_seconds`,
`total_seconds`): one listing, one GET per drill.

- red: no report at all, or the newest is older than the drill schedule's `max_age`
  (`resilience.schedule` for failover and task loss, `resilience.rebuild_schedule` for rebuilds).
  That is the policy setting, and its safe default is the one every schedule gets: the cron's
  longest gap plus a day (first Sunday monthly: 36 days; first Saturday quarterly: 99 days at most).
- amber: the newest drill failed (a failed drill is evidence of a problem, not a missing drill).
- green otherwise. The reason carries the figures: "last failover drill: 94 s, client downtime 41 s".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backstop.freshness.registry import Environment, Found, Target, register
from backstop.freshness.status import Facts

PREFIX = "reports/resilience/"
KINDS = {
    "failover": "resilience_failover",
    "task_loss": "resilience_task_loss",
    "rebuild": "resilience_rebuild",
}
LABELS = {"failover": "failover drill", "task_loss": "task-loss drill", "rebuild": "rebuild drill"}


def _duration(seconds: float) -> str:
    from datetime import timedelta

    from backstop.retention.planner import format_duration  # at run time: a heavy import to parse

    return format_duration(timedelta(seconds=seconds))


def _seconds(value: Any) -> str:
    """94 s under ten minutes; longer ones as a duration (1h 2m)."""
    if value is None:
        return "-"
    seconds = float(value)
    return f"{seconds:.0f} s" if seconds < 600 else _duration(seconds)


def figures(drill_kind: str, report: Mapping[str, Any]) -> str:
    """What the drill measured: "94 s, client downtime 41 s" / "recovery 12 s" / "total 1h 2m"."""
    if drill_kind == "failover":
        return (
            f"{_seconds(report.get('failover_seconds'))}, "
            f"client downtime {_seconds(report.get('client_downtime_seconds'))}"
        )
    if drill_kind == "task_loss":
        return f"recovery {_seconds(report.get('recovery_seconds'))}"
    return f"total {_seconds(report.get('total_seconds'))}"


def report_time(report: Mapping[str, Any]) -> datetime | None:
    for key in ("finished_at", "requested_at", "stopped_at", "started_at"):
        value = report.get(key)
        if value:
            try:
                return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                continue
    return None


def assess_drill(
    drill_kind: str,
    resource: str,
    report: Mapping[str, Any] | None,
    at: datetime | None,
    max_age_s: float,
    schedule: str,
    now: datetime,
) -> tuple[str, str]:
    """Pure: (status, reason) of one drill's row from its newest report (None: never drilled)."""
    label = LABELS[drill_kind]
    if report is None or at is None:
        return "red", (
            f"no {label} report for {resource}: never drilled (or the report is unreadable); "
            f"schedule {schedule} allows {_duration(max_age_s)}"
        )
    age = max(0.0, (now - at).total_seconds())
    verdict = "PASSED" if report.get("passed") else "FAILED"
    detail = f"last {label}: {figures(drill_kind, report)} ({resource}, {verdict} {at:%Y-%m-%d}, {_duration(age)} ago)"
    if age > max_age_s:
        return "red", f"overdue: {detail}; over max_age {_duration(max_age_s)} of schedule {schedule}"
    if not report.get("passed"):
        why = "; ".join(report.get("failures") or []) or "see the report"
        return "amber", f"{detail}: {why}"[:500]
    return "green", detail


def _resource(drill_kind: str, drill: Any) -> str:
    if drill_kind == "failover":
        return drill.cluster or drill.id
    if drill_kind == "task_loss":
        return f"{drill.cluster}/{drill.service}"
    return drill.terraform_project


def _drill_of(key: str, names: list[str]) -> str | None:
    """The drill a report key belongs to: the longest drill name its file name starts with."""
    base = key.rsplit("/", 1)[-1]
    return max((n for n in names if base.startswith(f"{n}-")), key=len, default=None)


class ResilienceDrillSource:
    kinds = tuple(KINDS.values())

    def __repr__(self) -> str:
        return "ResilienceDrillSource"

    def targets(self, policy: Any) -> list[Target]:
        section = getattr(policy, "resilience", None)
        if section is None:
            return []
        out = []
        for drill_kind, drills, schedule in (
            ("failover", section.failover, section.schedule),
            ("task_loss", section.task_loss, section.schedule),
            ("rebuild", section.rebuild, section.rebuild_schedule),
        ):
            for drill in drills:
                out.append(
                    Target(
                        policy="resilience",
                        kind=KINDS[drill_kind],
                        resource=drill.name,
                        regions=(getattr(drill, "region", None) or policy.defaults.region,),
                        max_age_s=policy.schedules[schedule].max_age.total_seconds(),
                        overdue_after_s=None,
                        rpo_s=None,
                        channel=policy.defaults.slack.channel,
                        spec={
                            "drill_kind": drill_kind,
                            "resource": _resource(drill_kind, drill),
                            "schedule": schedule,
                            "bucket": policy.defaults.report_bucket,
                            "bucket_region": policy.defaults.region,
                        },
                    )
                )
        return out

    def collect(self, targets: list[Target], env: Environment) -> list[Found]:
        if not targets:
            return []
        bucket, region = targets[0].spec["bucket"], targets[0].spec["bucket_region"]
        s3 = env.client("s3", region)
        names = [t.resource for t in targets]
        newest: dict[str, tuple[tuple[str, Any], str]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
            for item in page.get("Contents", []):
                name = _drill_of(item["Key"], names)
                if name is None:
                    continue
                rank = (item["Key"][len(PREFIX) :].split("/", 1)[0], item["LastModified"])
                if name not in newest or rank > newest[name][0]:
                    newest[name] = (rank, item["Key"])
        found = []
        for target in targets:
            key = newest.get(target.resource, (None, None))[1]
            report = None
            if key is not None:
                try:
                    report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                except Exception as exc:  # one unreadable report must not hide the other rows
                    env.problem(f"resilience drill report s3://{bucket}/{key} could not be read: {exc}")
            at = report_time(report) if report else None
            assessed = assess_drill(
                target.spec["drill_kind"],
                # what that run drilled (the policy may have moved the drill to another resource since)
                str((report or {}).get("resource") or target.spec["resource"]),
                report,
                at,
                target.max_age_s,
                target.spec["schedule"],
                env.now,
            )
            facts = Facts(
                role="source",
                region=target.regions[0],
                newest_backup_id=f"s3://{bucket}/{key}" if report is not None else None,
                newest_backup_at=at,
                max_age_s=target.max_age_s,
            )
            found.append(Found(target, target.resource, facts, assessed=assessed))
        return found


register(ResilienceDrillSource())
