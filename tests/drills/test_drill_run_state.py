"""What a drill run's state means (see dags/restore_drill_monthly.py): verdict, cleanup, evidence.

A FAILED verdict with a clean teardown fails the run (test_restore_drill_monthly). Here the
verdict PASSES and the run still fails, because the drill did not clean up (the teardown's
DeleteDBInstance is refused: a botocore before-send hook answers with the error AWS sends for
an instance in the wrong state, which moto cannot be made to produce) or did not leave its
evidence (the report bucket does not exist).
"""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.awsrequest import AWSResponse

FIRST_SUNDAY_0300_KST = datetime(2026, 11, 7, 18, 0, tzinfo=UTC)
DRILL_INSTANCE = "triflow-ai-production-db-drill-20261108"
PITR_TASKS = "production-pitr"


class _Body:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


_INVALID_STATE = (
    b'<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>'
    b"<Code>InvalidDBInstanceState</Code><Message>Instance is not in available state.</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


def _refuse_deletes(task, region: str) -> list[str]:
    refused: list[str] = []

    def handler(request, **_):
        refused.append(request.url)
        return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _Body(_INVALID_STATE))

    # The task's copy for each try shares this client (prepare_for_execution copies shallowly).
    task.client(region).meta.events.register("before-send.rds.DeleteDBInstance", handler)
    return refused


def _assert_failed_run(dag_run, states, **expected: str) -> None:
    got = states(dag_run)
    assert dag_run.state == "failed", got
    assert {task: got[f"{PITR_TASKS}.{task}"] for task in expected} == expected, got


def test_a_passing_drill_whose_teardown_fails_fails_the_run_and_keeps_its_evidence(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy_for(["production-pitr"]))
    refused = _refuse_deletes(dag.get_task(f"{PITR_TASKS}.delete_instance"), "ap-northeast-2")

    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    _assert_failed_run(dag_run, states, verify="success", delete_instance="failed", report="failed")
    assert len(refused) == 3  # the first try and the policy's two retries
    assert DRILL_INSTANCE in drill_world.instances()  # left for the sweeper (expires-at set)

    (report,) = drill_world.reports().values()  # the evidence was still written ...
    assert report["passed"] is True and report["deleted"] is None
    texts = [m["text"] for m in slack.messages()]
    assert any(t.startswith("Restore drill production-pitr PASSED") for t in texts), texts  # ... and told
    assert any("delete_instance" in t and "InvalidDBInstanceState" in t for t in texts), texts
    assert any(f"the drill instance {DRILL_INSTANCE} was not confirmed deleted" in t for t in texts), texts


def test_a_passing_drill_without_its_report_fails_the_run(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    policy = policy_for(["production-pitr"])
    policy["defaults"]["report_bucket"] = "triflow-backstop-no-such-bucket"
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy)

    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)

    _assert_failed_run(dag_run, states, verify="success", delete_instance="success", report="failed")
    assert DRILL_INSTANCE not in drill_world.instances()
    texts = [m["text"] for m in slack.messages()]
    assert any(t.startswith("Restore drill production-pitr PASSED") for t in texts), texts
    assert any("could not be written to s3://triflow-backstop-no-such-bucket/" in t for t in texts), texts
