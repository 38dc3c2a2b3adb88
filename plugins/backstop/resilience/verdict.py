"""Pure verdicts of the resilience drills: what was measured, and whether it met the target.

No I/O: the operators (failover.py, task_loss.py, rebuild.py) gather times, AZs, events, probe
samples and plan results and pass them here; the unit tests drive these functions alone.
A failover whose instance stayed in its AZ (an Aurora cluster: whose writer is the same
member) did not happen and is a failure, however fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ProbeSample:
    """One probe: when it started, whether the query answered, and the error if not."""

    at: datetime
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class ClientView:
    """Downtime as a client saw it: first failed probe -> first success after the last failure."""

    probes: int
    failures: int
    first_failure_at: datetime | None
    recovered_at: datetime | None
    downtime_seconds: float
    recovered: bool


def client_view(samples: Sequence[ProbeSample]) -> ClientView:
    failed = [s for s in samples if not s.ok]
    if not failed:
        return ClientView(len(samples), 0, None, None, 0.0, bool(samples))
    last_failure = failed[-1]
    after = [s for s in samples if s.ok and s.at > last_failure.at]
    recovered_at = after[0].at if after else None
    end = recovered_at or samples[-1].at
    return ClientView(
        probes=len(samples),
        failures=len(failed),
        first_failure_at=failed[0].at,
        recovered_at=recovered_at,
        downtime_seconds=round((end - failed[0].at).total_seconds(), 3),
        recovered=recovered_at is not None,
    )


def event_times(events: Sequence[Mapping[str, Any]]) -> tuple[datetime | None, datetime | None]:
    """(failover started, failover completed) from RDS events, by message (first of each)."""
    started = completed = None
    for event in events:
        text = str(event.get("Message", "")).lower()
        if "failover" not in text and "failover" not in [
            c.lower() for c in event.get("EventCategories") or []
        ]:
            continue
        if started is None and ("start" in text or "in progress" in text):
            started = event["Date"]
        elif completed is None and ("complete" in text or "finished" in text):
            completed = event["Date"]
    return started, completed


@dataclass(frozen=True)
class Verdict:
    passed: bool
    failures: list[str] = field(default_factory=list)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def judge_failover(
    *,
    before_az: str | None,
    after_az: str | None,
    requested_at: datetime,
    available_at: datetime | None,
    events: Sequence[Mapping[str, Any]],
    client: ClientView,
    target_seconds: float,
    max_downtime_seconds: float,
    checks: Sequence[Mapping[str, Any]] = (),
    writer_before: str | None = None,
    writer_after: str | None = None,
) -> dict[str, Any]:
    """The failover drill's figures and verdict (JSON-ready).

    With `writer_before` (an Aurora cluster) the failover happened when another member is the
    writer; without it (a Multi-AZ instance), when the instance is in another AZ.
    """
    started, completed = event_times(events)
    failover_seconds = _seconds(requested_at, available_at)
    cluster = writer_before is not None
    failures = []
    if available_at is None:
        failures.append(
            f"the {'cluster' if cluster else 'instance'} was not available again before the drill's timeout"
        )
    if cluster and writer_after == writer_before:
        failures.append(
            f"the failover did not happen: the writer is still {writer_after} "
            f"({'no failover event recorded' if completed is None else 'although RDS reported one'})"
        )
    elif not cluster and after_az is not None and after_az == before_az:
        failures.append(
            f"the failover did not happen: the instance is still in {after_az} "
            f"({'no failover event recorded' if completed is None else 'although RDS reported one'})"
        )
    if failover_seconds is not None and failover_seconds > target_seconds:
        failures.append(f"failover took {failover_seconds:.1f}s, target {target_seconds:.0f}s")
    if not client.recovered:
        failures.append("the probe did not succeed again after the failover")
    elif client.downtime_seconds > max_downtime_seconds:
        failures.append(f"client downtime {client.downtime_seconds:.1f}s exceeds {max_downtime_seconds:.0f}s")
    for check in checks:
        if not check.get("passed"):
            failures.append(f"check {check.get('name')}: {check.get('message')}")
    writer = (
        {
            "writer_before": writer_before,
            "writer_after": writer_after,
            "writer_changed": bool(writer_after and writer_after != writer_before),
        }
        if cluster
        else {}
    )
    return {
        "az_before": before_az,
        "az_after": after_az,
        "az_changed": bool(after_az and before_az and after_az != before_az),
        **writer,
        "requested_at": requested_at,
        "available_at": available_at,
        "failover_seconds": failover_seconds,
        "event_started_at": started,
        "event_completed_at": completed,
        "event_seconds": _seconds(started, completed),
        "client_downtime_seconds": client.downtime_seconds,
        "client": asdict(client),
        "target_seconds": target_seconds,
        "max_client_downtime_seconds": max_downtime_seconds,
        "checks": list(checks),
        "passed": not failures,
        "failures": failures,
    }


def judge_task_loss(
    *,
    stopped_at: datetime,
    recovered_at: datetime | None,
    wait_status: str,
    wait_message: str,
    target_seconds: float,
    target_group_problem: str | None = None,
    service_whole: bool = False,
) -> dict[str, Any]:
    """The task-loss drill's figures and verdict: time until the service was whole again (and its
    target group healthy, when the drill names one: the wait includes it).

    `target_group_problem` is why the named target group is not healthy after a wait that did not
    succeed (None: healthy, or none named); `service_whole`, whether the tasks themselves were back.
    """
    recovery_seconds = _seconds(stopped_at, recovered_at) if wait_status == "success" else None
    failures = []
    if wait_status != "success" and service_whole and target_group_problem:
        failures.append(
            f"the tasks are back but the load balancer never saw them healthy ({wait_status}): "
            f"{target_group_problem}"
        )
    elif wait_status != "success":
        failures.append(f"the service did not recover ({wait_status}): {wait_message}")
        if target_group_problem:
            failures.append(target_group_problem)
    elif recovery_seconds is not None and recovery_seconds > target_seconds:
        failures.append(f"recovery took {recovery_seconds:.1f}s, target {target_seconds:.0f}s")
    return {
        "stopped_at": stopped_at,
        "recovered_at": recovered_at if wait_status == "success" else None,
        "recovery_seconds": recovery_seconds,
        "target_seconds": target_seconds,
        "wait": {"status": wait_status, "message": wait_message},
        "target_group_problem": target_group_problem,
        "passed": not failures,
        "failures": failures,
    }


def judge_rebuild(
    *,
    state: Mapping[str, Any] | None,
    restore: Mapping[str, Any] | None,
    deleted: Mapping[str, Any] | None,
    started_at: datetime,
    finished_at: datetime,
    target_seconds: float,
) -> dict[str, Any]:
    """The rebuild drill's verdict: no drift, the data restored and verified, cleaned up, in time."""
    total = round((finished_at - started_at).total_seconds(), 3)
    failures = []
    if not state:
        failures.append("the Terraform state was not restored and planned (see the plan_state task)")
    elif state.get("drift"):
        changes = ", ".join(f"{c['address']} ({'/'.join(c['actions'])})" for c in state["drift"])
        failures.append(f"terraform plan shows drift against the restored state: {changes}")
    if not restore:
        failures.append("the DR snapshot was not restored and verified (see the drill's tasks)")
    elif not restore.get("passed"):
        failures.append(
            "the restored database failed verification: " + "; ".join(restore.get("failures") or [])
        )
    if not (deleted or {}).get("deleted") and (deleted or {}).get("reason") != "not found":
        failures.append("the drill instance was not confirmed deleted")
    if total > target_seconds:
        failures.append(f"the rebuild took {total:.0f}s, target {target_seconds:.0f}s")
    return {
        "started_at": started_at,
        "finished_at": finished_at,
        "total_seconds": total,
        "target_seconds": target_seconds,
        "passed": not failures,
        "failures": failures,
    }
