"""The console's data gathering against the moto server (no browser): one unreadable source blanks
only its own panel, and a retention plan is readable from a prefix."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from backstop.console.evidence import parse_retention_head
from backstop.console.gather import AwsClients, gather
from backstop.console.render import page
from backstop.policy import parse_policy
from tests.dag_loading import shipped_policy

PROD = "triflow-ai-production-db"


def test_an_unreadable_source_blanks_only_its_panel(fleet, local_stack):
    data = shipped_policy()
    data["defaults"]["report_bucket"] = "backstop-console-no-such-bucket"  # never created
    policy = parse_policy(data)
    clients = AwsClients(policy.defaults.aws_conn_id, policy.defaults.region)

    view = gather(policy, clients, now=datetime.now(UTC), read_audit=list)

    for name in ("freshness", "drills", "retention"):
        assert view.panels[name].data is None
        assert "NoSuchBucket" in (view.panels[name].error or ""), (name, view.panels[name])
    assert "NoSuchBucket" in (view.extra["restore_reports"].error or "")
    # the live panels still read RDS through the same connection
    restorable = {r.source: r for r in view.panels["restorable"].data}
    assert set(restorable) == {PROD, "triflow-ai-staging-db"}  # every instance a policy names
    assert restorable[PROD].in_form and not restorable["triflow-ai-staging-db"].in_form
    assert all(r.latest is not None and r.problem is None for r in restorable.values())
    assert {q.region for q in view.extra["quota"].data} == {"ap-northeast-1", "ap-northeast-2"}
    assert view.panels["audit"].data == [] and view.extra["instances"].data == []

    html = page(view)
    assert (
        html.count("Could not read this panel: NoSuchBucket") == 5
    )  # freshness, drills, retention, reports, resilience
    assert PROD in html and html.count("restore-link") == 1


def test_a_cut_off_retention_plan_still_shows_its_complete_lines():
    decision = {
        "snapshot_id": "db-weekly-20261122",
        "region": "ap-northeast-2",
        "action": "keep",
        "reason": "weekly #1",
    }
    report = (
        "{\n"
        '  "format": "backstop.retention/2",\n'
        '  "now": "2026-11-23T03:00:00+00:00",\n'
        '  "dry_run": true,\n'
        '  "counts": {"snapshots": 3, "keep": 2, "delete": 1, "ignore": 0},\n'
        '  "halted": [\n    "db-b (ap-northeast-2): newest snapshot is 9d old"\n  ],\n'
        '  "groups": [\n    {"resource_id": "db-a"}\n  ],\n'
        '  "decisions": [\n'
        f"    {json.dumps(decision)},\n"
        f"    {json.dumps({**decision, 'snapshot_id': 'db-weekly-20261115', 'action': 'delete'})},\n"
        '    {"snapshot_id": "db-weekly-2026'  # cut off here, mid-line
    ).encode()

    plan = parse_retention_head("reports/retention/x.json", report)

    assert plan.header["dry_run"] is True and plan.counts["delete"] == 1
    assert plan.halted == ["db-b (ap-northeast-2): newest snapshot is 9d old"]
    assert [d["action"] for d in plan.decisions] == ["keep", "delete"]
    assert plan.truncated
