"""The task-loss drill with a load balancer target group named in the policy.

moto's ECS registers no task in its service's target groups; the local stack's emulation
(include/local/emulation.py) registers the replacement task's target `initial` and reports it
healthy after `healthy_after_seconds`, or never (`target_health="stays-unhealthy"`), and marks
the stopped task's target `draining`. The drill's wait (EcsServiceSteadyTrigger, deferred)
counts the service recovered only once the target group is healthy too.
"""

from __future__ import annotations

from datetime import datetime

from tests.resilience.conftest import FIRST_SUNDAY_0300_KST

WHEN = datetime.fromisoformat(FIRST_SUNDAY_0300_KST)
CLUSTER = "triflow-ai-staging-cluster"
SERVICE = "triflow-ai-staging-backend-service"
TASK = "task_loss-staging-backend-task-loss"
TARGET_GROUP = "triflow-staging-backend"


def _target_group_arn(world) -> str:
    return world.client("elbv2").describe_target_groups(Names=[TARGET_GROUP])["TargetGroups"][0][
        "TargetGroupArn"
    ]


def _health(world, arn) -> dict[str, str]:
    described = world.client("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in described}


def _policy(policy_with, arn):
    return policy_with(failover=False, task_loss_changes={"target_group_arn": arn})


def test_the_drill_waits_for_the_target_group_to_be_healthy_and_passes(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    from include.local.emulation import task_target_ip

    arn = _target_group_arn(resilience_world)
    assert set(_health(resilience_world, arn).values()) == {"healthy"}  # the seeded tasks' targets
    resilience_world.emulate(healthy_after_seconds=3, drain_seconds=600)  # still draining when we look
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", _policy(policy_with, arn))

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "success", states(dag_run)
    (report,) = resilience_world.reports().values()
    assert report["passed"] is True, report["failures"]
    assert report["target_group_arn"] == arn and report["target_group_problem"] is None
    # replaced after 2 s, healthy 3 s later: the tasks alone were back after 2 s, so the
    # measured recovery includes the load balancer's health checks
    assert report["recovery_seconds"] >= 5
    assert "target group healthy" in report["wait"]["message"]
    health = _health(resilience_world, arn)
    assert health[task_target_ip(report["stopped_task"])] == "draining"
    assert sorted(health.values()) == ["draining", "healthy", "healthy"]
    (message,) = slack.messages()
    assert f"back at 2 RUNNING behind target group {TARGET_GROUP} in" in message["text"]


def test_a_target_group_that_never_becomes_healthy_fails_the_drill_naming_it(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    arn = _target_group_arn(resilience_world)
    resilience_world.emulate(target_health="stays-unhealthy")
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", _policy(policy_with, arn))

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "failed"
    assert states(dag_run)[TASK] == "failed"
    ecs = resilience_world.client("ecs")
    running = ecs.list_tasks(cluster=CLUSTER, serviceName=SERVICE, desiredStatus="RUNNING")["taskArns"]
    assert len(running) == 2  # the tasks came back; only the load balancer says no
    (report,) = resilience_world.reports().values()
    assert report["passed"] is False and report["recovery_seconds"] is None
    (failure,) = report["failures"]
    assert failure.startswith("the tasks are back but the load balancer never saw them healthy (timeout)")
    assert f"target group {TARGET_GROUP} has 1 of 2 target(s) healthy" in failure
    assert ":8000 unhealthy" in failure
    summary = [m["text"] for m in slack.messages() if m["text"].startswith("Task-loss drill")]
    assert len(summary) == 1 and "FAILED" in summary[0] and TARGET_GROUP in summary[0]
