"""The DR console in a real Chromium, filled by real pipeline runs against moto.

One seeded history, made by the DAGs themselves with `dag.test()` (nothing written by hand):
the weekly snapshot, the cross-region copy, the monthly drill (both drills, on the embedded
PostgreSQL), a manual restore approved through Airflow's HITL endpoint function (as tests/approvals
does), a retention dry run and a freshness evaluation. Then the API server renders the console
and each panel must show what those runs left. Screenshots of each panel go to .local/screenshots/;
the whole page to .local/screenshots/console.png, and to docs/console.png (committed, shown in the
README) when BACKSTOP_UPDATE_DOCS_SCREENSHOT=1.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.approvals import approve_when_asked
from tests.dag_loading import load_dag, shipped_policy

ROOT = Path(__file__).resolve().parents[2]
PROD = "triflow-ai-production-db"
STAGING = "triflow-ai-staging-db"
PANELS = ("freshness", "drills", "restorable", "retention", "audit")


def last_sunday_0300_kst(now: datetime) -> datetime:
    """The weekly schedule's last fire time (Sunday 03:00 Asia/Seoul = Saturday 18:00 UTC)."""
    saturday = now - timedelta(days=(now.weekday() - 5) % 7)
    fire = saturday.replace(hour=18, minute=0, second=0, microsecond=0)
    return fire if fire <= now else fire - timedelta(days=7)


@pytest.fixture
def seeded(api_server, data_plane, tmp_path, monkeypatch):
    now = datetime.now(UTC)
    policy = shipped_policy()

    def run(file_name: str, dag_id: str, **kwargs):
        dag = load_dag(file_name, dag_id, policy, tmp_path, monkeypatch)
        return dag.test(**kwargs)

    assert (
        run("rds_snapshot.py", "rds_weekly_snapshot", logical_date=last_sunday_0300_kst(now)).state
        == "success"
    )
    assert run("rds_cross_region_copy.py", "rds_cross_region_copy", logical_date=now).state == "success"
    assert run("restore_drill_monthly.py", "restore_drill_monthly", logical_date=now).state == "success"

    done, answers = threading.Event(), []
    approver = threading.Thread(
        target=approve_when_asked, args=("restore_point_in_time", done, answers), daemon=True
    )
    approver.start()
    try:
        restored = run(
            "restore_point_in_time.py",
            "restore_point_in_time",
            run_conf={
                "source": PROD,
                "target_instance_id": "triflow-prod-restore-console",
                "checks": ["workflows-present"],
                "tables": ["core.workflows"],
            },
        )
    finally:
        done.set()
        approver.join(timeout=5)
    assert restored.state == "success", answers
    assert (
        run("retention_prune.py", "retention_prune", logical_date=now + timedelta(minutes=5)).state
        == "success"
    )
    assert (
        run("backup_freshness.py", "backup_freshness", logical_date=now + timedelta(minutes=6)).state
        == "success"
    )
    return now


def test_console_renders_every_panel_from_a_seeded_run(seeded, page, api_server, local_stack, screenshots):
    page.goto(f"{api_server.base_url}/backstop-console/")
    for panel in PANELS:
        section = page.locator(f"#panel-{panel}")
        section.wait_for()
        assert "Could not read this panel" not in section.inner_text(), (panel, section.inner_text())
        section.screenshot(path=str(screenshots / f"console-{panel}.png"))

    # (a) freshness: every protected database in its region and the DR region, with a status
    freshness = page.locator("#panel-freshness")
    rows = freshness.locator("tbody tr")
    assert rows.count() >= 4
    text = freshness.inner_text()
    for resource, region in ((PROD, "ap-northeast-2"), (PROD, "ap-northeast-1"), (STAGING, "ap-northeast-2")):
        assert any(resource in r and region in r for r in rows.all_inner_texts()), (resource, region, text)
    assert freshness.locator(".pill.ok, .pill.warn, .pill.bad").count() >= rows.count()

    # (b) drills: both drills passed, with RTO/RPO against targets, and a chart with a bar per run
    drills = page.locator("#panel-drills")
    assert drills.locator("svg.chart rect.rto").count() == 2
    assert drills.locator("svg.chart circle.rpo").count() == 2
    drill_rows = drills.locator("tbody tr").all_inner_texts()
    assert {r.split("\t")[1] for r in drill_rows} == {"production-pitr", "production-dr-copy"}, drill_rows
    assert all("PASSED" in r and "/ 60.0m" in r for r in drill_rows), drill_rows

    # (c) restorable now: the window from RDS, the newest snapshot and the DR copy, and the form link
    restorable = page.locator("#panel-restorable")
    prod_row = restorable.locator("tbody tr", has_text=PROD)
    prod_text = prod_row.inner_text()
    assert "→" in prod_text and "UTC" in prod_text, prod_text
    assert (
        f"{PROD}-weekly-" in prod_text and "ap-northeast-1" in prod_text and "restore-verified" in prod_text
    )
    assert prod_row.locator("a.restore-link").get_attribute("href") == "../dags/restore_point_in_time"
    assert f'"source": "{PROD}"' in prod_row.locator("code.restore-conf").inner_text()

    # (d) retention: the dry-run plan with reasons, and the quota use per region
    retention = page.locator("#panel-retention")
    text = retention.inner_text()
    assert "dry run (nothing deleted)" in text and "weekly #1 (" in text, text
    assert "not managed by Backstop: never touched" in text  # the automated snapshots, with the reason
    assert retention.locator("tbody tr.keep").count() >= 5  # each weekly snapshot and its DR copy
    quota_rows = retention.locator("table").first.locator("tbody tr").all_inner_texts()
    assert {r.split("\t")[0] for r in quota_rows} == {"ap-northeast-1", "ap-northeast-2"}, quota_rows
    assert all(r.split("\t")[3] == "100" for r in quota_rows)

    # (e) audit: the manual restore, who approved it, what was copied back and where the old table went
    audit = page.locator("#panel-audit")
    restore_row = audit.locator("tbody tr", has_text="Manual restore").first
    text = restore_row.inner_text()
    assert "Approve" in text and "sre-oncall" in text, text
    assert "core.workflows" in text and "backstop_before_restore_" in text, text
    assert audit.locator("text=triflow-prod-restore-console").count() >= 2  # the run and the live instance
    assert "manual-restore" in audit.inner_text()

    # No secret on the page: the master password from Secrets Manager, the Slack token
    html = page.content()
    from include.local.dataplane import master_credentials
    from include.local.fleet import DB_MASTER_SECRET

    password = master_credentials(local_stack.aws_endpoint_url, DB_MASTER_SECRET)["password"]
    assert password not in html
    assert "xoxb-" not in html

    page.screenshot(path=str(screenshots / "console.png"), full_page=True)
    if (
        os.environ.get("BACKSTOP_UPDATE_DOCS_SCREENSHOT") == "1"
    ):  # refresh the README's picture on purpose only
        (ROOT / "docs").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "docs" / "console.png"), full_page=True)
