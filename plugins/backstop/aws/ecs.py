"""ECS calls of the task-loss drill: the service, its running tasks, stopping one.

Functions take a boto3 ECS client made by the provider's EcsHook. `recovery_state` is the
one-look function of the deferrable wait (with an ELBv2 client when the drill names a target
group: backstop.aws.elbv2).
"""

from __future__ import annotations

from typing import Any

ECS_HOOK = "airflow.providers.amazon.aws.hooks.ecs.EcsHook"


def describe_service(client: Any, cluster: str, service: str) -> dict[str, Any] | None:
    """The DescribeServices item, or None when the service does not exist or is not ACTIVE."""
    found = client.describe_services(cluster=cluster, services=[service], include=["TAGS"])
    items = [s for s in found.get("services") or [] if s.get("status") == "ACTIVE"]
    return items[0] if items else None


def service_tags(client: Any, service: dict[str, Any]) -> dict[str, str]:
    """The service's tags (from describe with include=TAGS, else ListTagsForResource)."""
    tags = service.get("tags")
    if tags is None:
        tags = client.list_tags_for_resource(resourceArn=service["serviceArn"]).get("tags") or []
    return {t["key"]: t["value"] for t in tags}


def running_tasks(client: Any, cluster: str, service: str) -> list[dict[str, Any]]:
    """The service's tasks whose desired status is RUNNING (described: lastStatus, health)."""
    arns: list[str] = []
    for page in client.get_paginator("list_tasks").paginate(
        cluster=cluster, serviceName=service, desiredStatus="RUNNING"
    ):
        arns.extend(page.get("taskArns") or [])
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), 100):  # DescribeTasks takes at most 100
        tasks.extend(
            client.describe_tasks(cluster=cluster, tasks=arns[start : start + 100]).get("tasks") or []
        )
    return tasks


def stop_task(client: Any, cluster: str, task_arn: str, reason: str) -> dict[str, Any]:
    return client.stop_task(cluster=cluster, task=task_arn, reason=reason)["task"]


def service_state(client: Any, cluster: str, service: str, stopped_task: str) -> tuple[str, str]:
    """One look: "success" when the service runs its desired count, every task RUNNING, the
    stopped task not among them; "not_found" when the service is gone; else "pending"."""
    state, message, _ = _service_look(client, cluster, service, stopped_task)
    return state, message


def recovery_state(
    client: Any,
    cluster: str,
    service: str,
    stopped_task: str,
    elb_client: Any = None,
    target_group_arn: str | None = None,
) -> tuple[str, str]:
    """`service_state`, and when a target group is named, "success" only once it is healthy too
    (at least the desired count of healthy targets, none initial or unhealthy)."""
    state, message, desired = _service_look(client, cluster, service, stopped_task)
    if state != "success" or not target_group_arn:
        return state, message
    from backstop.aws.elbv2 import group_problem

    problem = group_problem(elb_client, target_group_arn, desired)
    if problem:
        return "pending", f"{message}; {problem}"
    return "success", f"{message}; target group healthy"


def _service_look(client: Any, cluster: str, service: str, stopped_task: str) -> tuple[str, str, int]:
    described = describe_service(client, cluster, service)
    if described is None:
        return "not_found", f"service {service} in {cluster} no longer exists", 0
    desired = int(described.get("desiredCount") or 0)
    tasks = running_tasks(client, cluster, service)
    running = [t for t in tasks if t.get("lastStatus") == "RUNNING" and t["taskArn"] != stopped_task]
    message = (
        f"{service}: desired {desired}, service running count {described.get('runningCount')}, "
        f"{len(running)} task(s) RUNNING besides the stopped one"
    )
    if len(running) >= desired and int(described.get("runningCount") or 0) >= desired:
        return "success", message, desired
    return "pending", message, desired
