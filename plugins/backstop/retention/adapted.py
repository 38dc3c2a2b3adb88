"""Plan, delete, report: the loop for stores the RDS planner prunes through an adapter.

DynamoDB backups, DynamoDB DR exports and ElastiCache DR exports each list their own records
(ownership from a ledger, since they carry no tags) and delete in their own way, checking
ownership again right before each delete. What they share lives here: a plan the planner
aborts fails the task with nothing deleted; one failed delete does not stop the others; a halt
fails the task after the deletes that were safe (the planner keeps everything of a halted
resource); failed deletes fail it too, so a retry re-plans and finishes what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from logging import Logger
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.retention.planner import (
    Plan,
    PlanAborted,
    RetentionRules,
    SnapshotRecord,
    plan_retention,
)


def plan_or_fail(
    records: Sequence[SnapshotRecord],
    rules: Mapping[str, RetentionRules | None],
    now: datetime,
    *,
    clock_skew_seconds: float,
    what: str,
) -> Plan:
    """The planner's plan, or the task fails naming why nothing was deleted."""
    try:
        return plan_retention(records, rules, now, clock_skew=timedelta(seconds=clock_skew_seconds))
    except PlanAborted as exc:
        raise AirflowFailException(f"{what} aborted, nothing deleted: {exc}") from exc


def delete_planned(
    plan: Plan, delete: Callable[[SnapshotRecord], str], log: Logger, what: str
) -> dict[str, list[str]]:
    """Each planned deletion through `delete`, which answers "deleted ..." / "gone" or "skipped: why".

    Returns {"deleted", "skipped", "failed"}: lines "<arn>: <outcome or error>".
    """
    done: dict[str, list[str]] = {"deleted": [], "skipped": [], "failed": []}
    for decision in plan.deletions:
        snapshot = decision.snapshot
        try:
            outcome = delete(snapshot)
        except Exception as exc:
            log.error("Could not delete %s %s: %s", what, snapshot.arn, exc)
            done["failed"].append(f"{snapshot.arn}: {exc}")
            continue
        kind = "deleted" if outcome.startswith(("deleted", "gone")) else "skipped"
        done[kind].append(f"{snapshot.arn}: {outcome}")
    return done


def plan_result(plan: Plan, dry_run: bool, done: Mapping[str, list[str]] | None) -> dict[str, Any]:
    """The task's XCom (and report body): the plan's counts and rows, what was deleted, skipped, failed, halted."""
    done = done or {"deleted": [], "skipped": [], "failed": []}
    return {
        "dry_run": dry_run,
        "counts": plan.counts(),
        "decisions": [d.row() for d in plan.decisions],
        **done,
        "halted": [f"{g.resource_id} ({g.region}): {g.message}" for g in plan.halted],
    }


def fail_if_halted_or_failed(result: Mapping[str, Any], what: str) -> None:
    """Halts fail without retries (the alert says why); failed deletes fail with retries."""
    if result["halted"]:
        where = f" (plan: {result['report']})" if result.get("report") else ""
        raise AirflowFailException(f"{what} halted for " + "; ".join(result["halted"]) + where)
    if result["failed"]:
        raise AirflowException(
            f"{what}: {len(result['failed'])} not (fully) deleted: " + "; ".join(result["failed"])
        )
