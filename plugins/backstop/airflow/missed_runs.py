"""No surprise run on unpause: a scheduled slot that is long past is skipped, not run late.

With catchup off, Airflow still creates a run for the most recent missed slot the moment a
DAG is unpaused (or the scheduler comes back). For a backup that is right: a late snapshot
beats none. For retention it is a surprise: unpausing `retention_prune` at 15:00 would delete
at once for a 02:00 slot. `on_time_gate` is the first task of such a DAG; it skips every
downstream task when a scheduled run starts more than MISSED_SLOT_GRACE after its slot.
Manual runs always go ahead. Not for DAGs with teardown tasks: a short-circuit never skips
teardowns (the drills' delete/report would then run and fail the run).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

MISSED_SLOT_GRACE = timedelta(hours=1)


def missed_slot(
    run_type: str, slot: datetime | None, now: datetime, grace: timedelta = MISSED_SLOT_GRACE
) -> bool:
    """True for a scheduled run starting more than `grace` after its slot (a run nobody expects now)."""
    if not str(run_type).endswith("scheduled") or slot is None:
        return False
    return now - slot > grace


def on_time_gate(grace: timedelta = MISSED_SLOT_GRACE) -> Any:
    """The gate task (wire it before everything else)."""
    from airflow.sdk import task

    @task.short_circuit(task_id="skip_missed_slot", ignore_downstream_trigger_rules=True)
    def skip_missed_slot(dag_run=None) -> bool:
        slot = getattr(dag_run, "run_after", None)
        if missed_slot(getattr(dag_run, "run_type", "manual"), slot, datetime.now(UTC), grace):
            print(
                f"Skipping the missed slot of {slot}: more than {grace} ago (unpaused late, or the scheduler was down)"
            )
            return False
        return True

    return skip_missed_slot()
