"""An approval whose decision is kept, whichever button was pressed.

Airflow's ApprovalOperator returns the response as its XCom when someone approves; on Reject it
skips its downstream tasks by raising (Task SDK), so nothing is returned and a later report
could not say who rejected. `RecordedApprovalOperator` first stores the response under the
XCom key `decision` (options, user, time), then behaves exactly as ApprovalOperator.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

DECISION_KEY = "decision"


class RecordedApprovalOperator(ApprovalOperator):
    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" not in event:
            context["ti"].xcom_push(
                key=DECISION_KEY,
                value={
                    "chosen_options": list(event.get("chosen_options") or []),
                    "responded_by_user": event.get("responded_by_user"),
                    "responded_at": event.get("responded_at"),
                },
            )
        return super().execute_complete(context, event)
