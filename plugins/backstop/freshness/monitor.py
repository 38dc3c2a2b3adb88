"""One freshness check: every source's facts -> rows with a status -> the evidence in S3.

`evaluate` asks each registered source about its targets and turns what they found into
`FreshnessRow`s; `write_report` puts the report at `freshness/runs/<ts>.json` and
`freshness/latest.json`. `write_freshness_report(policy, client_factory)` does both for a
whole policy, without Airflow (the DR console's tests seed their page with it); the DAG's
operator adds alerting on top. A source that fails (AccessDenied in one region, say) gives
red "could not check" rows for its targets instead of stopping the others: an unknown
freshness is not a fresh one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backstop.freshness.drills import latest_drills
from backstop.freshness.evidence import (
    LATEST_KEY,
    DrillResult,
    FreshnessReport,
    FreshnessRow,
    run_key,
)
from backstop.freshness.registry import Found, Target, all_targets, source_for
from backstop.freshness.status import age_seconds, assess

ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client


@dataclass
class _Env:
    now: datetime
    factory: ClientFactory
    drills: Mapping[tuple[str, str], DrillResult]
    problems: list[str] = field(default_factory=list)

    def client(self, service: str, region: str) -> Any:
        return self.factory(service, region)

    def last_drill(self, resource_id: str, region: str) -> DrillResult | None:
        return self.drills.get((resource_id, region))

    def problem(self, text: str) -> None:
        self.problems.append(text)


def row_of(found: Found, now: datetime) -> FreshnessRow:
    facts = found.facts
    if found.unchecked:
        status, reason = "red", found.unchecked
    else:
        status, reason = found.assessed or assess(facts, now)
    return FreshnessRow(
        policy=found.target.policy,
        kind=found.target.kind,
        resource_id=found.resource_id,
        region=facts.region,
        role=facts.role,
        newest_backup_id=facts.newest_backup_id,
        newest_backup_at=facts.newest_backup_at,
        age_s=age_seconds(facts, now),
        max_age_s=facts.max_age_s,
        rpo_s=facts.rpo_s,
        status=status,
        reason=reason,
        newest_verified_backup_id=found.newest_verified_backup_id,
        last_drill=facts.last_drill,
    )


def _unknown(target: Target, error: BaseException) -> list[FreshnessRow]:
    text = f"could not check: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return [
        FreshnessRow(
            policy=target.policy,
            kind=target.kind,
            resource_id=target.resource,
            region=region,
            role=target.role_of(region),
            newest_backup_id=None,
            newest_backup_at=None,
            age_s=None,
            max_age_s=target.max_age_s,
            rpo_s=target.rpo_s,
            status="red",
            reason=text[:500],
        )
        for region in target.regions
    ]


def evaluate(
    targets: Sequence[Target],
    drills: Sequence[Mapping[str, str]],
    *,
    client_factory: ClientFactory,
    report_bucket: str,
    report_region: str,
    now: datetime,
    run_id: str | None = None,
    log: Any = None,
) -> FreshnessReport:
    """Every target's rows, with status and reason, as of `now`."""
    problems: list[str] = []
    drill_map = latest_drills(client_factory("s3", report_region), report_bucket, drills, problems)
    env = _Env(now=now, factory=client_factory, drills=drill_map, problems=problems)
    by_source: dict[int, tuple[Any, list[Target]]] = {}
    for target in targets:
        source = source_for(target.kind)
        by_source.setdefault(id(source), (source, []))[1].append(target)
    rows: list[FreshnessRow] = []
    for source, group in by_source.values():
        try:
            rows += [row_of(found, now) for found in source.collect(group, env)]
        except Exception as exc:  # one source's trouble must not hide the others' rows
            if log is not None:
                log.exception("Freshness source %r failed", source)
            problems.append(f"{source!r}: {type(exc).__name__}: {exc}"[:500])
            for target in group:
                rows += _unknown(target, exc)
    rows.sort(key=lambda r: (r.policy, r.kind, r.resource_id, r.role != "source", r.region))
    return FreshnessReport.of(rows, now, run_id, problems)


def write_report(s3_client: Any, bucket: str, report: FreshnessReport) -> dict[str, str]:
    """The run's own object first, then latest.json (a reader of latest never sees a missing run)."""
    body = report.to_json().encode()
    key = run_key(report.generated_at)
    for k in (key, LATEST_KEY):
        s3_client.put_object(Bucket=bucket, Key=k, Body=body, ContentType="application/json")
    return {"run": f"s3://{bucket}/{key}", "latest": f"s3://{bucket}/{LATEST_KEY}"}


def write_freshness_report(
    policy: Any, client_factory: ClientFactory, *, now: datetime | None = None, run_id: str | None = None
) -> FreshnessReport:
    """Evaluate every target of `policy` and write the evidence; no alerts (plain function)."""
    from backstop.freshness.config import drill_places

    now = now or datetime.now(UTC)
    bucket, region = policy.defaults.report_bucket, policy.defaults.region
    report = evaluate(
        all_targets(policy),
        drill_places(policy),
        client_factory=client_factory,
        report_bucket=bucket,
        report_region=region,
        now=now,
        run_id=run_id,
    )
    write_report(client_factory("s3", region), bucket, report)
    return report
