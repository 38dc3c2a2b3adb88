"""The task wiring of one restore drill, shared by every DAG that runs one.

restore_drill_monthly runs a drill per policy entry; rebuild_drill_quarterly runs the data half
of a rebuild as the same drill. Both call `restore_drill_tasks` inside a TaskGroup, so the
semantics below (explained in dags/restore_drill_monthly.py) are written once:
preflight -> restore -> wait_available -> verify -> delete_instance -> report, where
delete_instance and report are teardowns of restore with trigger rule ALL_DONE and only report
counts for the run's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow.sdk import TriggerRule

from backstop.drills.report import DrillReportOperator
from backstop.drills.restore import (
    DrillPreflightOperator,
    DrillRestoreOperator,
    DrillTeardownOperator,
    DrillVerifyOperator,
    RdsInstanceWaitOperator,
)


@dataclass(frozen=True)
class DrillTasks:
    preflight: Any
    restore: Any
    wait: Any
    verify: Any
    delete: Any
    report: Any


def restore_drill_tasks(spec: Any, policy: Any) -> DrillTasks:
    """Create one drill's six tasks in the current DAG / TaskGroup and wire them."""
    aws = {"aws_conn_id": policy.defaults.aws_conn_id}
    deferrable = policy.defaults.deferrable
    preflight = DrillPreflightOperator(task_id="preflight", spec=spec, region_name=spec.region, **aws)
    restore = DrillRestoreOperator(task_id="restore", plan=preflight.output, **aws)
    wait = RdsInstanceWaitOperator(
        task_id="wait_available",
        instance_id=preflight.output["instance_id"],
        region_name=spec.restore_region,
        deferrable=deferrable,
        **aws,
    )
    verify = DrillVerifyOperator(task_id="verify", plan=preflight.output, **aws)
    delete = DrillTeardownOperator(task_id="delete_instance", spec=spec, deferrable=deferrable, **aws)
    report = DrillReportOperator(
        task_id="report",
        name=spec.name,
        kind=spec.kind,
        source=spec.source,
        region=spec.restore_region,
        task_ids={
            "plan": preflight.task_id,
            "restore": restore.task_id,
            "wait": wait.task_id,
            "verify": verify.task_id,
            "teardown": delete.task_id,
        },
        report_bucket=policy.defaults.report_bucket,
        region_name=policy.defaults.region,
        channel=policy.defaults.slack.channel,
        slack_conn_id=policy.defaults.slack.conn_id,
        **aws,
    )
    restore >> wait >> verify >> delete >> report
    delete.as_teardown(setups=restore)
    report.as_teardown(setups=restore, on_failure_fail_dagrun=True)
    # as_teardown sets all_done_setup_success; both must run whatever happened (see the DAG's doc).
    delete.trigger_rule = TriggerRule.ALL_DONE
    report.trigger_rule = TriggerRule.ALL_DONE
    return DrillTasks(preflight, restore, wait, verify, delete, report)
