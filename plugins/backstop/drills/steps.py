"""The bases of the drill and restore steps (backstop.drills.restore, .manual).

`PlanStepOperator`: a step working from the planner's `RestorePlan` (passed as XCom).
`DrillInstanceOperator`: a step that finds the run's drill instance and deletes it, waiting
it out (preflight clears a leftover with it, teardown deletes the drill's). Both name their
source for the Slack failure alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, DeferrableAwsOperator, aws_template_fields
from backstop.aws.hooks import RDS_HOOK, LazyHookClass
from backstop.aws.rds_instances import instance_state
from backstop.drills.instances import delete_drill_instance, drill_instance_name
from backstop.drills.plan import RestorePlan
from backstop.naming import run_date
from backstop.policy.drill_views import DrillSpec


class _NamesItsSource:
    """`source_id` for the Slack failure alert's "Resource" field (backstop.airflow.slack)."""

    @property
    def source_id(self) -> str | None:
        plan = getattr(self, "plan", None)
        if isinstance(plan, dict) and plan.get("source"):
            return str(plan["source"])
        spec = getattr(self, "spec", None)
        return spec.source if isinstance(spec, DrillSpec) else None


class PlanStepOperator(_NamesItsSource, BackstopAwsOperator):
    """A step that works from the preflight's (or manual planner's) plan, passed as XCom."""

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("plan")

    def __init__(self, *, plan: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan

    @property
    def restore_plan(self) -> RestorePlan:
        """The plan, typed (the field holds the planner's XCom once rendered)."""
        plan = RestorePlan.from_xcom(self.plan)
        if plan is None:
            raise AirflowFailException("no restore plan: the planner task left none")
        return plan

    def credentials(self, plan: RestorePlan) -> Any:
        from backstop.drills.checks import credentials

        return credentials(
            secret_id=plan.credentials_secret,
            conn_id=plan.credentials_conn_id,
            aws_conn_id=self.aws_conn_id,
            region_name=plan.region,
        )


def push_plan(context: Context, plan: RestorePlan) -> dict[str, Any]:
    """The planner's return value; `instance_id` and `restore_region` also go to their own XCom keys,
    so DAG files can pass `plan.output["instance_id"]` to operators that need only that."""
    context["ti"].xcom_push(key="instance_id", value=plan.instance_id)
    context["ti"].xcom_push(key="restore_region", value=plan.restore_region)
    return plan.to_xcom()


class DrillInstanceOperator(_NamesItsSource, DeferrableAwsOperator):
    """Finds the drill instance of a run, deletes it when it is a managed drill instance, waits it out."""

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("spec")

    def __init__(self, *, spec: DrillSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def drill_instance(self, context: Context) -> str:
        return drill_instance_name(self.spec.source, run_date(context, self.spec.timezone))

    def delete_and_wait(self, client: Any, instance: dict[str, Any]) -> tuple[str, str]:
        """Delete, then wait until it is gone (deferred when deferrable: resumes in execute_complete)."""
        from backstop.airflow.triggers import RdsInstanceStateTrigger

        target = instance["DBInstanceIdentifier"]
        delete_drill_instance(client, instance, self.log)
        return self.wait_or_defer(
            poll=lambda: instance_state(client, target, "deleted"),
            trigger=lambda: RdsInstanceStateTrigger(
                instance_id=target, target="deleted", **self.trigger_connection(self.spec.restore_region)
            ),
        )
