"""`dag.test()` of restore_point_in_time (Runbook 2 as a form) and of drill_orphan_sweeper."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tests.approvals import approve_when_asked

SOURCE = "triflow-ai-production-db"


def test_restore_time_outside_the_window_fails_with_the_window_and_creates_nothing(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    before = set(drill_world.instances())
    dag = load_dag("restore_point_in_time.py", "restore_point_in_time", policy_for())

    dag_run = dag.test(run_conf={"source": SOURCE, "restore_time": "2020-01-01T00:00:00Z"})

    got = states(dag_run)
    assert dag_run.state == "failed", got
    assert got["plan"] == "failed" and got["restore"] == "upstream_failed", got
    assert set(drill_world.instances()) == before  # nothing created
    assert drill_world.clones() == []
    alerts = [m["text"] for m in slack.messages()]
    assert any("outside the restorable window" in t and "earliest" in t and "latest" in t for t in alerts), (
        alerts
    )


def test_copy_back_after_approval_restores_the_table_and_keeps_the_replaced_one(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    plane = drill_world.plane
    target = "triflow-prod-restore-test"

    def bad_deploy():  # the accident Runbook 2 is for, after the restore point
        plane.sql("DELETE FROM core.workflows WHERE id > 20")

    dag = load_dag("restore_point_in_time.py", "restore_point_in_time", policy_for())
    done, answers = threading.Event(), []
    approver = threading.Thread(
        target=approve_when_asked, args=(dag.dag_id, done, answers, bad_deploy), daemon=True
    )
    approver.start()
    try:
        dag_run = dag.test(
            run_conf={
                "source": SOURCE,
                "restore_time": None,  # null = latest restorable time
                "target_instance_id": target,
                "checks": ["workflows-present"],
                "tables": ["core.workflows"],
            }
        )
    finally:
        done.set()
        approver.join(timeout=5)

    got = states(dag_run)
    assert dag_run.state == "success", (got, answers)
    assert got["approve"] == "success" and got["copy_back"] == "success", got
    (body,) = [b for choice, b in answers if choice == "Approve"]
    assert "- `workflows-present`: 120 (ok)" in body  # one point per line
    assert plane.sql("SELECT COUNT(*) FROM core.workflows")[0][0] == 120  # copied back
    kept = plane.sql("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'backstop_before_restore_%'")
    assert len(kept) == 1
    # the approval page named the real schema before anything was moved (not "<timestamp>")
    assert f"moved to schema `{kept[0][0]}`" in body and "<timestamp>" not in body
    assert (
        "`core.workflows` in database `triflow` of `triflow-ai-production-db` will be **overwritten**" in body
    )
    assert plane.sql(f'SELECT COUNT(*) FROM "{kept[0][0]}".workflows')[0][0] == 20  # the replaced table
    # identity still works after the copy-back
    plane.sql("INSERT INTO core.workflows (name, owner) VALUES ('after-restore', 'ops')")

    restored = drill_world.instances()[target]
    tags = {t["Key"]: t["Value"] for t in restored["TagList"]}
    assert tags["backstop:managed"] == "true" and tags["backstop:purpose"] == "manual-restore"
    assert "backstop:drill" not in tags  # kept for investigation; the sweeper leaves it alone
    (report,) = drill_world.reports("reports/restores/").values()
    assert report["passed"] is True and report["endpoint"]["address"]
    assert [c["name"] for c in report["checks"]] == ["workflows-present"]
    # written after the decision: who approved which option, and what the copy-back did
    assert report["decision"]["option"] == "Approve" and report["decision"]["by"] == "sre-oncall"
    assert report["copy_back"]["copied"] == ["core.workflows"]
    assert report["copy_back"]["kept_schema"] == kept[0][0]
    (summary,) = [m["text"] for m in slack.messages() if m["text"].startswith("Manual restore")]
    assert "copy-back approved by sre-oncall: copied core.workflows" in summary


def test_a_rejected_copy_back_leaves_the_original_and_the_report_names_who_rejected(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    plane = drill_world.plane
    dag = load_dag("restore_point_in_time.py", "restore_point_in_time", policy_for())
    done, answers = threading.Event(), []
    approver = threading.Thread(
        target=approve_when_asked,
        args=(dag.dag_id, done, answers),
        kwargs={"choice": "Reject"},
        daemon=True,
    )
    approver.start()
    try:
        dag_run = dag.test(
            run_conf={
                "source": SOURCE,
                "restore_time": None,
                "target_instance_id": "triflow-prod-restore-rejected",
                "checks": ["workflows-present"],
                "tables": ["core.workflows"],
            }
        )
    finally:
        done.set()
        approver.join(timeout=5)

    got = states(dag_run)
    assert dag_run.state == "success", (got, answers)  # rejecting is a decision, not a failure
    assert got["approve"] == "success" and got["copy_back"] == "skipped" and got["report"] == "success", got
    assert plane.sql("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'backstop_before_restore_%'") == []
    (report,) = drill_world.reports("reports/restores/").values()
    assert report["decision"]["option"] == "Reject" and report["decision"]["by"] == "sre-oncall"
    assert report["copy_back"] is None and report["tables"] == ["core.workflows"]


def test_sweeper_deletes_expired_drill_instances_only(
    airflow_db, drill_world, slack, load_dag, policy_for, states
):
    rds = drill_world.client("rds")
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    drill_tags = [{"Key": "backstop:managed", "Value": "true"}, {"Key": "backstop:drill", "Value": "true"}]
    common = {
        "DBInstanceClass": "db.t4g.medium",
        "Engine": "postgres",
        "MasterUsername": "x",
        "MasterUserPassword": "password-123",
        "AllocatedStorage": 20,
    }
    rds.create_db_instance(
        DBInstanceIdentifier="old-drill",
        Tags=[*drill_tags, {"Key": "backstop:expires-at", "Value": past}],
        DeletionProtection=True,
        **common,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="fresh-drill",
        Tags=[*drill_tags, {"Key": "backstop:expires-at", "Value": future}],
        **common,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="someones-db",
        Tags=[{"Key": "backstop:drill", "Value": "true"}, {"Key": "backstop:expires-at", "Value": past}],
        **common,
    )
    dag = load_dag("drill_orphan_sweeper.py", "drill_orphan_sweeper", policy_for())

    # a manual run deletes only with dry_run off and DELETE typed
    dag_run = dag.test(run_conf={"dry_run": False, "confirm_delete": "DELETE"})

    assert dag_run.state == "success", states(dag_run)
    left = set(drill_world.instances())
    assert "old-drill" not in left
    assert {"fresh-drill", "someones-db", SOURCE} <= left
    (message,) = slack.messages()
    assert "old-drill" in message["text"] and "someones-db" not in message["text"]
