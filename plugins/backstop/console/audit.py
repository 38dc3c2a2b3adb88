"""The audit trail of restores from Airflow's own records: who triggered, who approved, what was written.

Airflow's metadata DB already holds the facts: each run of `restore_point_in_time` and
`terraform_state_restore` (its form values), the `approve` task's human-in-the-loop answer (who
pressed which button, when) and each step's result (XCom). The console reads them with Airflow's
ORM in the API server process; it writes nothing. Only named fields are taken from each result,
so nothing the page shows can be a secret (Terraform state and passwords are never in XCom).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MANUAL_RESTORE_DAG = "restore_point_in_time"
STATE_RESTORE_DAG = "terraform_state_restore"

# task id -> the result fields shown (whitelist)
_RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "plan": ("instance_id", "restore_point", "restore_region"),
    "copy_back": ("copied", "kept_schema"),
    "write_backend": ("target", "serial", "from", "from_version_id", "version_id", "vault", "byte_identical"),
    "write_local": ("target", "serial", "from", "vault", "byte_identical"),
}
_FORM_FIELDS: dict[str, tuple[str, ...]] = {
    MANUAL_RESTORE_DAG: ("source", "restore_time", "target_instance_id", "tables", "checks"),
    STATE_RESTORE_DAG: ("project", "workspace", "date", "destination", "vault", "force"),
}


@dataclass
class RestoreRun:
    """One manual restore run as the audit table shows it."""

    dag_id: str
    run_id: str
    state: str
    triggered_by: str | None
    started: datetime | None
    ended: datetime | None
    form: dict[str, Any] = field(default_factory=dict)
    approval: str | None = None  # "Approve" / "Reject" / "waiting" / None (no approval step ran)
    approved_by: str | None = None
    approved_at: datetime | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def restore_runs(limit: int = 20) -> list[RestoreRun]:
    """The newest manual-restore and state-restore runs, newest first."""
    from airflow.models.dagrun import DagRun
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    out: list[RestoreRun] = []
    with create_session() as session:
        runs = session.scalars(
            select(DagRun)
            .where(DagRun.dag_id.in_(tuple(_FORM_FIELDS)))
            .order_by(DagRun.run_after.desc())
            .limit(limit)
        ).all()
        for run in runs:
            conf = run.conf or {}
            item = RestoreRun(
                dag_id=run.dag_id,
                run_id=run.run_id,
                state=str(run.state),
                triggered_by=getattr(run, "triggering_user_name", None),
                started=run.start_date,
                ended=run.end_date,
                form={k: conf[k] for k in _FORM_FIELDS[run.dag_id] if k in conf},
            )
            hitl = session.execute(
                select(HITLDetail, TaskInstance.state)
                .join(TaskInstance, HITLDetail.ti_id == TaskInstance.id)
                .where(
                    TaskInstance.dag_id == run.dag_id,
                    TaskInstance.run_id == run.run_id,
                    TaskInstance.task_id == "approve",
                )
            ).first()
            if hitl is not None:
                detail = hitl[0]
                if detail.responded_at is not None:
                    item.approval = ", ".join(detail.chosen_options or []) or "answered"
                    item.approved_by = (detail.responded_by or {}).get("name")
                    item.approved_at = detail.responded_at
                else:
                    item.approval = "waiting"
            rows = session.execute(
                select(XComModel.task_id, XComModel.value).where(
                    XComModel.dag_id == run.dag_id,
                    XComModel.run_id == run.run_id,
                    XComModel.key == "return_value",
                    XComModel.task_id.in_(tuple(_RESULT_FIELDS)),
                    XComModel.map_index == -1,
                )
            ).all()
            for task_id, value in rows:
                result = XComModel.deserialize_value(_Row(value))
                if isinstance(result, dict):
                    item.results[task_id] = {k: result[k] for k in _RESULT_FIELDS[task_id] if k in result}
            out.append(item)
    return out


class _Row:
    """What XComModel.deserialize_value reads: an object with `.value`."""

    def __init__(self, value: Any) -> None:
        self.value = value
