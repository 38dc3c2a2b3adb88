"""The ECS task-loss drill (seed Test 2): stop one task of a staging service, time its recovery.

Refuses (doing nothing) a service the environment guard does not allow, a service of desired
count 1 unless the policy says `allow_single_task`, and a service that is not whole before the
drill (fewer tasks RUNNING than desired: stopping one would measure an outage already under
way). Stops the oldest RUNNING task, then waits deferrably (EcsServiceSteadyTrigger in the
triggerer, or polling here) until the service runs its desired count again with every task
RUNNING and the stopped one gone; when the policy names a target group, it must be healthy too
(as many healthy targets as the desired count, none initial or unhealthy; the stopped task's
draining target is on its way out and does not count). Recovery = stop -> the first look that
saw all of that (within one poll). A wait that times out with the tasks back but the target
group not healthy fails naming the target group and its targets.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

from backstop.aws.ecs import ECS_HOOK
from backstop.aws.hooks import LazyHookClass
from backstop.drills.times import iso, parse_time
from backstop.policy.resilience_views import TaskLossSpec
from backstop.resilience.evidence import ResilienceDrillOperator
from backstop.resilience.failover import DrillRefused

_SEEN = re.compile(r"\(seen ([0-9T:.+-]+)\)$")


class TaskLossDrillOperator(ResilienceDrillOperator):
    """Stop one running task of an ECS service and measure until the service is whole again."""

    aws_hook_class = LazyHookClass(ECS_HOOK)
    kind = "task_loss"

    def __init__(self, *, spec: TaskLossSpec, report_bucket: str, channel: str, **kwargs: Any) -> None:
        if not isinstance(spec, str):  # the wait: every poll_interval until the drill's timeout
            kwargs.setdefault("waiter_delay", spec.poll_interval_seconds)
            kwargs.setdefault(
                "waiter_max_attempts", max(1, math.ceil(spec.timeout_seconds / spec.poll_interval_seconds))
            )
        super().__init__(spec=spec, report_bucket=report_bucket, channel=channel, **kwargs)

    def resource_of(self, spec: TaskLossSpec) -> str:
        return f"{spec.cluster}/{spec.service}"

    def run_drill(self, context: Context) -> dict[str, Any]:
        from backstop.airflow.triggers import EcsServiceSteadyTrigger
        from backstop.aws.ecs import describe_service, recovery_state, running_tasks, service_tags, stop_task

        spec = self.spec
        client = self.client(spec.region)
        service = describe_service(client, spec.cluster, spec.service)
        if service is None:
            raise DrillRefused(f"ECS service {spec.service} does not exist in cluster {spec.cluster}")
        problem = spec.guard.problem(f"ECS service {spec.service}", service_tags(client, service))
        if problem:
            raise DrillRefused(problem)
        desired = int(service.get("desiredCount") or 0)
        if desired < 1 or (desired == 1 and not spec.allow_single_task):
            raise DrillRefused(
                f"ECS service {spec.service} has a desired count of {desired}; stopping its task would take "
                "it down (set allow_single_task: true in the drill to accept that)"
            )
        running = [
            t for t in running_tasks(client, spec.cluster, spec.service) if t.get("lastStatus") == "RUNNING"
        ]
        if len(running) < desired:
            raise DrillRefused(
                f"ECS service {spec.service} runs {len(running)} of {desired} tasks before the drill; not "
                "stopping anything while it is not whole"
            )
        victim = sorted(running, key=lambda t: (str(t.get("startedAt") or ""), t["taskArn"]))[0]["taskArn"]
        stopped_at = datetime.now(UTC)
        stop_task(client, spec.cluster, victim, f"Backstop task-loss drill {spec.name} ({context['run_id']})")
        self.log.info("Stopped %s of %s; waiting for %d RUNNING tasks", victim, spec.service, desired)
        resume = {"stopped_at": iso(stopped_at), "stopped_task": victim, "desired": desired}
        # Also in XCom: the resume kwargs are the way on a scheduler, but dag.test() drops them.
        context["ti"].xcom_push(key="stopped", value=resume)
        elb = self._elb() if spec.target_group_arn else None
        state, message = self.wait_or_defer(
            poll=lambda: recovery_state(
                client, spec.cluster, spec.service, victim, elb, spec.target_group_arn
            ),
            trigger=lambda: EcsServiceSteadyTrigger(
                cluster=spec.cluster,
                service=spec.service,
                stopped_task=victim,
                target_group_arn=spec.target_group_arn,
                **self.trigger_connection(spec.region),
            ),
            resume_kwargs=resume,
        )
        return self._judge(state, message, **resume)

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        stopped_at: str = "",
        stopped_task: str = "",
        desired: int = 0,
    ) -> dict[str, Any]:
        resume = {"stopped_at": stopped_at, "stopped_task": stopped_task, "desired": desired}
        if not stopped_at:
            resume = context["ti"].xcom_pull(task_ids=self.task_id, key="stopped") or resume
        return self.settle(context, lambda _ctx: self._judge(event["status"], event["message"], **resume))

    def _judge(
        self, state: str, message: str, *, stopped_at: str, stopped_task: str, desired: int
    ) -> dict[str, Any]:
        from backstop.resilience import verdict

        seen = _SEEN.search(message or "")
        recovered_at = parse_time(seen.group(1)) if seen else datetime.now(UTC)
        problem, whole = None, False
        if state != "success" and self.spec.target_group_arn:
            problem, whole = self._after_timeout(stopped_task, desired)
        result = verdict.judge_task_loss(
            stopped_at=parse_time(stopped_at),
            recovered_at=recovered_at,
            wait_status=state,
            wait_message=_SEEN.sub("", message or "").strip(),
            target_seconds=self.spec.target_seconds,
            target_group_problem=problem,
            service_whole=whole,
        )
        return {
            **result,
            "stopped_task": stopped_task,
            "desired_count": desired,
            "target_group_arn": self.spec.target_group_arn,
        }

    def _after_timeout(self, stopped_task: str, desired: int) -> tuple[str | None, bool]:
        """One more look after a failed wait: (why the target group is not healthy, tasks whole?)."""
        from backstop.aws.ecs import service_state
        from backstop.aws.elbv2 import group_problem

        spec = self.spec
        whole = (
            service_state(self.client(spec.region), spec.cluster, spec.service, stopped_task)[0] == "success"
        )
        return group_problem(self._elb(), str(spec.target_group_arn), desired), whole

    def _elb(self) -> Any:
        from backstop.aws.elbv2 import ELBV2_HOOK
        from backstop.aws.hooks import make_hook

        return make_hook(
            ELBV2_HOOK,
            aws_conn_id=self.aws_conn_id,
            region_name=self.spec.region,
            verify=self.verify,
            botocore_config=self.botocore_config,
        ).conn
