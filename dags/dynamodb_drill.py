"""DynamoDB restore drills, on each drill's schedule (first Sunday 03:00 Asia/Seoul in the policy).

One task per protected table and kind (`pitr`, `backup`, `dr_export`): restore into
`<table>-bsdrill-<kind>-<YYYYMMDD>`, wait (deferrable), probe real items, measure RTO/RPO
against the policy's objectives, record what the restore dropped, delete the drill table (only
a `-bsdrill-` table Backstop tagged), write the report, post the summary. A missing item, a
missed objective or a table left behind fails the task (and alerts). Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, on_policy_schedule
from backstop.dynamodb.drill import DynamoDbDrillOperator
from backstop.policy import load_policy
from backstop.policy.dynamodb_views import dynamodb_drill_schedules, dynamodb_drills

policy = load_policy()
defaults = policy.defaults

for schedule in dynamodb_drill_schedules(policy):
    with DAG(
        dag_id="dynamodb_drill" if schedule == "monthly-drill" else f"dynamodb_drill_{schedule}",
        **on_policy_schedule(
            policy, "DynamoDB restore drills: restore, probe, measure RTO/RPO, delete", schedule
        ),
        doc_md=__doc__,
        **dag_kwargs(policy, tags=["dynamodb", "drill"]),
    ) as dag:
        for spec in dynamodb_drills(policy, schedule):
            DynamoDbDrillOperator(
                task_id=f"{spec['table']}__{spec['kind']}".replace(".", "_"),
                drill=spec,
                timezone=defaults.timezone,
                ledger_bucket=defaults.report_bucket,
                ledger_region=defaults.region,
                report_bucket=defaults.report_bucket,
                alert_channel=spec["alert_channel"] or defaults.slack.channel,
                slack_conn_id=defaults.slack.conn_id,
                aws_conn_id=defaults.aws_conn_id,
                deferrable=defaults.deferrable,
            )
