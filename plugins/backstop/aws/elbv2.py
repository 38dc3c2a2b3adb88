"""ELBv2 calls of the task-loss drill: is the service's target group healthy again?

The amazon provider has no ELBv2 hook, so `Elbv2Hook` (aws/elbv2_hook.py, imported only when a
client is built: it pulls in boto3) is its base hook with `client_type` fixed, the shape of the
provider's own hooks (EcsHook, RdsHook): the Airflow connection still decides credentials,
region and endpoint.
"""

from __future__ import annotations

from typing import Any

ELBV2_HOOK = "backstop.aws.elbv2_hook.Elbv2Hook"

# a target leaving the group (the stopped task's) drains for the deregistration delay (300 s by
# default); it is on its way out, not a sign that the service is unhealthy
LEAVING = frozenset({"draining"})


def target_states(client: Any, target_group_arn: str) -> list[tuple[str, str]]:
    """Every registered target of the group as ("id:port", state)."""
    described = client.describe_target_health(TargetGroupArn=target_group_arn)
    return [
        (f"{d['Target']['Id']}:{d['Target'].get('Port')}", d["TargetHealth"]["State"])
        for d in described.get("TargetHealthDescriptions") or []
    ]


def group_name(target_group_arn: str) -> str:
    """`triflow-staging-backend` from arn:...:targetgroup/triflow-staging-backend/0123abcd."""
    parts = target_group_arn.split("/")
    return parts[1] if len(parts) >= 3 and parts[0].endswith("targetgroup") else target_group_arn


def unhealthy_targets(client: Any, target_group_arn: str) -> list[str]:
    """Targets of the group that are neither healthy nor draining ("id:port state")."""
    return [
        f"{target} {state}"
        for target, state in target_states(client, target_group_arn)
        if state != "healthy" and state not in LEAVING
    ]


def group_problem(client: Any, target_group_arn: str, expected_healthy: int) -> str | None:
    """Why the group is not healthy yet (naming it), or None: at least `expected_healthy` targets
    healthy and none initial, unhealthy, unused or unavailable (draining ones are leaving)."""
    states = target_states(client, target_group_arn)
    healthy = sum(1 for _, state in states if state == "healthy")
    bad = [f"{target} {state}" for target, state in states if state != "healthy" and state not in LEAVING]
    if healthy >= expected_healthy and not bad:
        return None
    detail = f"; {', '.join(bad)}" if bad else ""
    return (
        f"target group {group_name(target_group_arn)} has {healthy} of {expected_healthy} target(s) healthy"
        f"{detail}"
    )
