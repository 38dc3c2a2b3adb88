"""The verdict of a restore: parity, check results and RTO/RPO against the objectives. Pure, no I/O.

`DrillVerifyOperator` gathers the facts (the restored instance, the check results, the time
the checks passed) and these functions decide:

- parity: engine, engine version, encryption and KMS key of the restored instance against
  the source (or, for a `dr_snapshot` drill, the snapshot it restored);
- RTO = checks passed - drill start; RPO = restore point - newest committed row (the
  `freshness` check), or drill start - restore point without one; never below 0;
- the verdict: every parity item and check passed, and (for drills) both objectives met.
  RTO is judged only when everything else passed (a failed drill did not recover).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backstop.drills.checks import CheckResult
from backstop.drills.plan import RestorePlan
from backstop.drills.times import iso, parse_time
from backstop.policy.drill_views import RecoveryObjectives


def parity(plan: RestorePlan, restored: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each compared setting of the restored instance (a DescribeDBInstances item): expected, observed, passed."""
    source = plan.source_config
    encrypted, kms_key_id = plan.expected_encryption
    rows = [
        ("engine", source.engine, restored.get("Engine")),
        ("engine_version", source.engine_version, restored.get("EngineVersion")),
        ("encrypted", bool(encrypted), bool(restored.get("StorageEncrypted"))),
    ]
    if encrypted:
        rows.append(("kms_key_id", kms_key_id, restored.get("KmsKeyId")))
    return [{"name": n, "expected": e, "observed": o, "passed": e == o} for n, e, o in rows]


def parity_problems(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One reason per parity item that differs."""
    return [
        f"parity {p['name']}: expected {p['expected']!r}, observed {p['observed']!r}"
        for p in rows
        if not p["passed"]
    ]


def check_problems(checks: Sequence[CheckResult]) -> list[str]:
    """One reason per failed check, naming it."""
    return [f"check {c.name}: {c.message}" for c in checks if not c.passed]


@dataclass(frozen=True)
class Measurement:
    rto_seconds: float
    rpo_seconds: float
    rpo_basis: str
    notes: tuple[str, ...] = ()


def measure(
    *, started: datetime, checked_at: datetime, restore_point: datetime, checks: Sequence[CheckResult]
) -> Measurement:
    """RTO and RPO of one restore (seconds, unrounded)."""
    rto = (checked_at - started).total_seconds()
    freshness = next((c for c in checks if c.freshness and c.newest), None)
    if freshness is None:
        rpo = max((started - restore_point).total_seconds(), 0.0)
        return Measurement(rto, rpo, "drill start minus restore point (no freshness check)")
    raw_rpo = (restore_point - parse_time(freshness.newest)).total_seconds()
    notes = ()
    if raw_rpo < 0:
        notes = (
            f"the newest row ({freshness.newest}) is later than the restore point: the restored data "
            "is newer than asked for, so RPO is taken as 0",
        )
    return Measurement(
        rto, max(raw_rpo, 0.0), f"restore point minus newest row of check {freshness.name}", notes
    )


@dataclass(frozen=True)
class Verdict:
    passed: bool
    failures: tuple[str, ...]  # the reasons, in order: parity, checks, RTO, RPO
    rto_met: bool | None  # None: not judged (no objectives, or something else failed first)
    rpo_met: bool | None  # None: no objectives (a manual restore)


def judge(
    *,
    parity_rows: Sequence[Mapping[str, Any]],
    checks: Sequence[CheckResult],
    measurement: Measurement,
    objectives: RecoveryObjectives | None,
) -> Verdict:
    failures = parity_problems(parity_rows) + check_problems(checks)
    rto_met = rpo_met = None
    if objectives is not None:
        if not failures:
            rto_met = measurement.rto_seconds <= objectives.rto_seconds
            if not rto_met:
                failures.append(
                    f"RTO {measurement.rto_seconds:.1f}s missed the target of {objectives.rto_seconds:.0f}s"
                )
        rpo_met = measurement.rpo_seconds <= objectives.rpo_seconds
        if not rpo_met:
            failures.append(
                f"RPO {measurement.rpo_seconds:.1f}s missed the target of {objectives.rpo_seconds:.0f}s"
            )
    return Verdict(not failures, tuple(failures), rto_met, rpo_met)


def verification_record(
    plan: RestorePlan,
    restored: Mapping[str, Any],
    *,
    connected_to: dict[str, Any],
    parity_rows: list[dict[str, Any]],
    checks: Sequence[CheckResult],
    checked_at: datetime,
    measurement: Measurement,
    verdict: Verdict,
) -> dict[str, Any]:
    """What verify leaves in XCom (key `drill_result`) for the report: every observed value."""
    endpoint = restored.get("Endpoint") or {}
    return {
        "instance_id": plan.instance_id,
        "endpoint": {"address": endpoint.get("Address"), "port": endpoint.get("Port")},
        "connected_to": connected_to,
        "parity": parity_rows,
        "checks": [c.to_json() for c in checks],
        "checked_at": iso(checked_at),
        "rto_seconds": round(measurement.rto_seconds, 3),
        "rpo_seconds": round(measurement.rpo_seconds, 3),
        "rpo_basis": measurement.rpo_basis,
        "rto_met": verdict.rto_met,
        "rpo_met": verdict.rpo_met,
        "passed": verdict.passed,
        "failures": list(verdict.failures),
        "notes": [*plan.notes, *measurement.notes],
    }


def failure_message(plan: RestorePlan, verdict: Verdict) -> str:
    return f"{plan.kind} restore {plan.name} FAILED: " + "; ".join(verdict.failures)
