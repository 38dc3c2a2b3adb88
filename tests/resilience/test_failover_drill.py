"""`dag.test()` of resilience_drill_monthly's failover drill against the emulated control plane.

The emulation (include/local/emulation.py, in the moto server) flips the instance's AZ,
records the RDS failover events and makes the instance's database on the embedded PostgreSQL
refuse connections for 2 s; the drill's own code makes the same calls it makes on AWS.
"""

from __future__ import annotations

from datetime import datetime

from tests.resilience.conftest import FIRST_SUNDAY_0300_KST, STAGING_HA_DB

WHEN = datetime.fromisoformat(FIRST_SUNDAY_0300_KST)
TASK = "failover-staging-db-failover"


def test_a_failover_is_measured_from_both_sides_and_passes(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    before = resilience_world.instance()["AvailabilityZone"]
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", policy_with(task_loss=False))

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "success", states(dag_run)
    after = resilience_world.instance()["AvailabilityZone"]
    assert after != before
    (report,) = resilience_world.reports().values()
    assert report["kind"] == "failover" and report["passed"] is True, report["failures"]
    assert (report["az_before"], report["az_after"]) == (before, after)
    assert report["event_started_at"] and report["event_completed_at"]
    assert report["failover_seconds"] > 0
    # the emulated outage really cut the probe off, and the probe saw it come back
    assert report["client"]["failures"] >= 1 and report["client"]["recovered"] is True
    assert report["client_downtime_seconds"] > 0
    assert report["checks"][0]["name"] == "workflows-present" and report["checks"][0]["observed"] == 120
    (message,) = slack.messages()
    assert "Failover drill staging-db-failover PASSED" in message["text"]
    assert f"{before} -> {after}" in message["text"]
    assert "client downtime" in message["text"] and "RDS recovered" in str(message["blocks"])


def test_a_failover_that_did_not_happen_fails_the_drill(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    resilience_world.emulate(failover="no-az-change")
    before = resilience_world.instance()["AvailabilityZone"]
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", policy_with(task_loss=False))

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "failed"
    assert states(dag_run)[TASK] == "failed"
    assert resilience_world.instance()["AvailabilityZone"] == before
    (report,) = resilience_world.reports().values()
    assert report["passed"] is False and report["az_changed"] is False
    assert any("the failover did not happen" in f for f in report["failures"]), report["failures"]
    summaries = [m["text"] for m in slack.messages() if m["text"].startswith("Failover drill")]
    assert len(summaries) == 1 and "FAILED" in summaries[0] and "did not happen" in summaries[0]


def test_the_environment_guard_refuses_production(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    production = "triflow-ai-production-db"  # Multi-AZ, tagged environment=production
    before = resilience_world.instance(production)["AvailabilityZone"]
    dag = load_dag(
        "resilience_drill_monthly.py",
        "resilience_drill_monthly",
        policy_with(task_loss=False, failover_changes={"id": production}),
    )

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "failed"
    assert resilience_world.instance(production)["AvailabilityZone"] == before
    assert resilience_world.instance(production)["DBInstanceStatus"] == "available"
    assert resilience_world.failover_events(production) == []  # never rebooted
    (report,) = resilience_world.reports().values()
    assert report["passed"] is False
    assert "tagged environment=production" in report["failures"][0]
    assert "environment=staging" in report["failures"][0]
    assert STAGING_HA_DB not in str(report["failures"])


def test_the_dr_console_shows_the_last_failover_drill_with_both_figures(
    airflow_db, resilience_world, slack, load_dag, policy_with
):
    """The seed's RTO table as the console shows it: "failover 3.6s, client downtime 2.0s, 2a → 2c"."""
    from backstop.console.gather import AwsClients, gather
    from backstop.console.render import page
    from backstop.policy import parse_policy

    policy = policy_with(task_loss=False)
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", policy)
    assert dag.test(logical_date=WHEN).state == "success"
    parsed = parse_policy(policy)

    view = gather(parsed, AwsClients(parsed.defaults.aws_conn_id, parsed.defaults.region), read_audit=list)

    (run,) = view.extra["resilience"].data
    (report,) = resilience_world.reports().values()
    assert (run["kind"], run["passed"], run["az_after"]) == ("failover", True, report["az_after"])
    html = page(view)
    assert "Resilience drills" in html and "staging-db-failover" in html
    assert "client downtime" in html and f"{report['az_before']} → {report['az_after']}" in html
