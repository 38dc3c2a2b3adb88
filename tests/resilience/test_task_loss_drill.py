"""`dag.test()` of resilience_drill_monthly's ECS task-loss drill against the emulated scheduler.

moto runs no ECS service scheduler; the local stack's emulation (include/local/emulation.py)
replaces a stopped service task after 2 s, or never (`task_loss="never-replace"`). The drill
waits deferrably (EcsServiceSteadyTrigger), as on AWS.
"""

from __future__ import annotations

from datetime import datetime

from tests.resilience.conftest import FIRST_SUNDAY_0300_KST

WHEN = datetime.fromisoformat(FIRST_SUNDAY_0300_KST)
CLUSTER = "triflow-ai-staging-cluster"
SERVICE = "triflow-ai-staging-backend-service"
TASK = "task_loss-staging-backend-task-loss"


def _running(world, cluster=CLUSTER, service=SERVICE) -> set[str]:
    ecs = world.client("ecs")
    return set(ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"])


def test_a_stopped_task_is_replaced_and_the_recovery_is_measured(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    before = _running(resilience_world)
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", policy_with(failover=False))

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "success", states(dag_run)
    (report,) = resilience_world.reports().values()
    assert report["kind"] == "task_loss" and report["passed"] is True, report["failures"]
    assert report["stopped_task"] in before
    after = _running(resilience_world)
    assert len(after) == 2 and report["stopped_task"] not in after
    assert report["recovery_seconds"] >= 2  # the emulated scheduler replaces after 2 s
    assert report["desired_count"] == 2
    (message,) = slack.messages()
    assert "Task-loss drill staging-backend-task-loss PASSED" in message["text"]
    assert "back at 2 RUNNING in" in message["text"]


def test_a_task_that_is_never_replaced_fails_the_drill(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    resilience_world.emulate(task_loss="never-replace")
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", policy_with(failover=False))

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "failed"
    assert states(dag_run)[TASK] == "failed"
    assert len(_running(resilience_world)) == 1
    (report,) = resilience_world.reports().values()
    assert report["passed"] is False and report["recovery_seconds"] is None
    assert "the service did not recover (timeout)" in report["failures"][0]
    summary = [m["text"] for m in slack.messages() if m["text"].startswith("Task-loss drill")]
    assert len(summary) == 1 and "FAILED" in summary[0]


def test_production_and_single_task_services_are_refused(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    ecs = resilience_world.client("ecs")
    production = ("triflow-ai-production-cluster", "triflow-ai-production-backend-service")
    task_def = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["taskDefinition"]
    ecs.create_service(
        cluster=CLUSTER,
        serviceName="triflow-ai-staging-worker",
        taskDefinition=task_def,
        desiredCount=1,
        tags=[{"key": "environment", "value": "staging"}],
    )
    ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=task_def,
        launchType="FARGATE",
        group="service:triflow-ai-staging-worker",
    )
    before = {p: _running(resilience_world, *p) for p in (production, (CLUSTER, "triflow-ai-staging-worker"))}
    policy = policy_with(failover=False)
    drill = policy["resilience"]["task_loss"][0]
    policy["resilience"]["task_loss"] = [
        {**drill, "name": "production-refused", "cluster": production[0], "service": production[1]},
        {**drill, "name": "single-task-refused", "service": "triflow-ai-staging-worker"},
    ]
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", policy)

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "failed"
    got = states(dag_run)
    assert (
        got["task_loss-production-refused"] == "failed" and got["task_loss-single-task-refused"] == "failed"
    )
    for (cluster, service), tasks in before.items():  # nothing stopped
        assert _running(resilience_world, cluster, service) == tasks
        stopped = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
        assert not set(stopped) & tasks
    reports = {r["name"]: r for r in resilience_world.reports().values()}
    assert "tagged environment=production" in reports["production-refused"]["failures"][0]
    assert "desired count of 1" in reports["single-task-refused"]["failures"][0]
