"""Answer an Airflow approval (HITL) from a test, the way a person in the UI would.

Under `dag.test()` an ApprovalOperator parks in AWAITING_INPUT until a response is recorded
from outside. `approve_when_asked` runs in a background thread: it waits for the HITL row of
the `approve` task in the same metadata DB and calls Airflow's own REST endpoint function
(`update_hitl_detail`, as a SimpleAuthManager user) on a DB session, which stores the response
and resumes the task. No Airflow internals are patched. If nothing is pending within
`timeout`, it answers "Reject" to whatever comes, so a broken test fails instead of hanging
(and pytest-timeout backs that up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def approve_when_asked(
    dag_id: str,
    done: threading.Event,
    answers: list,
    before_approving: Callable[[], None] | None = None,
    timeout: float = 90,
    task_id: str = "approve",
    choice: str = "Approve",
) -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    deadline = time.monotonic() + timeout
    while not done.is_set():
        answer = choice if time.monotonic() < deadline else "Reject"
        try:
            with create_session() as session:
                row = session.execute(
                    select(TaskInstance.run_id, HITLDetail.body)
                    .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
                    .where(
                        TaskInstance.dag_id == dag_id,
                        TaskInstance.task_id == task_id,
                        TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                    )
                ).first()
                if row is not None:
                    answers.append((answer, row.body))
                    if answer == "Approve" and before_approving is not None:
                        before_approving()
                    update_hitl_detail(
                        dag_id=dag_id,
                        dag_run_id=row.run_id,
                        task_id=task_id,
                        update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[answer]),
                        user=SimpleAuthManagerUser(username="sre-oncall", role="admin"),
                        session=session,
                        map_index=-1,
                    )
                    return
        except Exception as exc:  # e.g. SQLite busy while dag.test() writes: try again
            answers.append(("retry", f"{type(exc).__name__}: {exc}"))
        time.sleep(0.5)
