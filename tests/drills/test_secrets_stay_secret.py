"""Failure mode "secrets" (issue "Trust"): a drill that reads the database master password from
Secrets Manager and alerts Slack with the connection's token puts neither secret in the task
output, XCom, the report in S3 or any Slack message. Real run: moto, embedded PostgreSQL,
Slack recorder; the drill fails on purpose so the failure alert path runs too."""

from __future__ import annotations

import json
from datetime import UTC, datetime

FIRST_SUNDAY_0300_KST = datetime(2026, 11, 7, 18, 0, tzinfo=UTC)


def _xcom_values(dag_run) -> list[str]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.run_id == dag_run.run_id).all()
        return [json.dumps(row.value, default=str) for row in rows]


def test_no_secret_reaches_output_xcom_reports_or_slack(
    airflow_db, drill_world, local_stack, slack, load_dag, policy_for, capfd
):
    from airflow.sdk import BaseHook

    from include.local.dataplane import master_credentials
    from include.local.fleet import DB_MASTER_SECRET

    db_password = master_credentials(local_stack.aws_endpoint_url, DB_MASTER_SECRET)["password"]
    slack_token = BaseHook.get_connection("slack_api_default").password
    assert db_password and slack_token and len(db_password) >= 8

    drill_world.plane.sql("DELETE FROM core.workflows")  # the drill fails: the alert path runs
    dag = load_dag("restore_drill_monthly.py", "restore_drill_monthly", policy_for(["production-pitr"]))
    dag_run = dag.test(logical_date=FIRST_SUNDAY_0300_KST)
    assert dag_run.state == "failed"

    out, err = capfd.readouterr()
    xcoms = _xcom_values(dag_run)
    reports = json.dumps(drill_world.reports(), default=str)
    messages = json.dumps(slack.messages(), default=str)
    assert xcoms and reports != "{}" and messages != "[]"  # there was something to leak into
    assert "production-pitr.verify" in out + err  # the task output was captured
    for secret in (db_password, slack_token):
        for where, text in (("task output", out + err), ("xcom", "\n".join(xcoms)), ("reports", reports)):
            assert secret not in text, where
        assert secret not in messages, "slack"
