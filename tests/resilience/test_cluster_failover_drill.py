"""`dag.test()` of resilience_drill_monthly's failover drill on an Aurora cluster (FailoverDBCluster).

moto makes a reader the writer on FailoverDBCluster itself; the emulation
(include/local/emulation.py) adds the `failing-over` status, the cluster's failover events and
a 2 s outage of the cluster's database on the embedded PostgreSQL, or, told
`cluster_failover="writer-unchanged"`, undoes moto's writer flip and records no failover event.
"""

from __future__ import annotations

from datetime import datetime

from tests.resilience.conftest import FIRST_SUNDAY_0300_KST

WHEN = datetime.fromisoformat(FIRST_SUNDAY_0300_KST)
CLUSTER = "triflow-ai-staging-aurora"
TASK = "failover-staging-db-failover"


def _cluster_drill(policy_with, cluster=CLUSTER):
    return policy_with(task_loss=False, failover_changes={"id": None, "cluster": cluster})


def _writer(world, cluster=CLUSTER) -> str:
    described = world.client("rds").describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    return next(m["DBInstanceIdentifier"] for m in described["DBClusterMembers"] if m["IsClusterWriter"])


def _cluster_events(world, cluster=CLUSTER) -> list[str]:
    events = world.client("rds").describe_events(SourceIdentifier=cluster, SourceType="db-cluster")
    return [e["Message"] for e in events["Events"]]


def test_a_cluster_failover_moves_the_writer_and_is_measured_from_both_sides(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    before = _writer(resilience_world)
    before_az = resilience_world.instance(before)["AvailabilityZone"]
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", _cluster_drill(policy_with))

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "success", states(dag_run)
    after = _writer(resilience_world)
    assert after != before
    (report,) = resilience_world.reports().values()
    assert report["kind"] == "failover" and report["passed"] is True, report["failures"]
    assert report["resource"] == CLUSTER and report["subject"] == "cluster"
    assert (report["writer_before"], report["writer_after"], report["writer_changed"]) == (
        before,
        after,
        True,
    )
    assert (
        report["az_before"] == before_az
        and report["az_after"] == resilience_world.instance(after)["AvailabilityZone"]
    )
    assert "failing-over" in report["statuses_seen"]
    assert report["event_started_at"] and report["event_completed_at"]
    assert any(f"failover to DB instance: {after}" in e["message"] for e in report["events"])
    assert report["failover_seconds"] > 0
    # the emulated outage really cut the probe (on the cluster's database) off, and it came back
    assert report["probe_target"]["database"] == "rds_ap_northeast_2_triflow_ai_staging_aurora"
    assert report["client"]["failures"] >= 1 and report["client"]["recovered"] is True
    assert report["client_downtime_seconds"] > 0
    assert report["checks"][0]["observed"] == 120
    (message,) = slack.messages()
    assert "Failover drill staging-db-failover PASSED" in message["text"]
    assert f"writer {before} ({before_az}) -> {after}" in message["text"]
    assert "client downtime" in message["text"] and "RDS recovered" in str(message["blocks"])


def test_a_cluster_failover_that_leaves_the_writer_in_place_fails_the_drill(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    resilience_world.emulate(cluster_failover="writer-unchanged")
    before = _writer(resilience_world)
    dag = load_dag("resilience_drill_monthly.py", "resilience_drill_monthly", _cluster_drill(policy_with))

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "failed"
    assert states(dag_run)[TASK] == "failed"
    assert _writer(resilience_world) == before
    (report,) = resilience_world.reports().values()
    assert report["passed"] is False and report["writer_changed"] is False
    assert f"the failover did not happen: the writer is still {before}" in report["failures"][0]
    assert "failing-over" in report["statuses_seen"]  # the request was made and acted on
    summaries = [m["text"] for m in slack.messages() if m["text"].startswith("Failover drill")]
    assert len(summaries) == 1 and "FAILED" in summaries[0] and "writer is still" in summaries[0]


def test_the_environment_guard_refuses_a_production_cluster(
    airflow_db, resilience_world, slack, load_dag, policy_with, states
):
    production = "triflow-ai-analytics"  # Aurora, tagged environment=production
    rds = resilience_world.client("rds")
    rds.create_db_instance(  # a reader, so only the guard stands between the drill and a failover
        DBInstanceIdentifier="triflow-ai-analytics-2",
        DBClusterIdentifier=production,
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        AvailabilityZone="ap-northeast-2c",
    )
    before = _writer(resilience_world, production)
    dag = load_dag(
        "resilience_drill_monthly.py", "resilience_drill_monthly", _cluster_drill(policy_with, production)
    )

    dag_run = dag.test(logical_date=WHEN)

    assert dag_run.state == "failed"
    assert states(dag_run)[TASK] == "failed"
    assert _writer(resilience_world, production) == before  # never failed over
    assert rds.describe_db_clusters(DBClusterIdentifier=production)["DBClusters"][0]["Status"] == "available"
    assert _cluster_events(resilience_world, production) == []
    (report,) = resilience_world.reports().values()
    assert report["passed"] is False and report["resource"] == production
    assert f"Aurora DB cluster {production} is tagged environment=production" in report["failures"][0]
    assert "environment=staging" in report["failures"][0]
