"""Approving a manual restore in the Airflow UI, in a real Chromium, completes the run.

The run executes in this process with `dag.test()` (as every DAG-run test here does); its
`approve` task parks in AWAITING_INPUT in the shared metadata DB. A second thread drives Chromium
against the real API server as a person would: Required Actions, the pending restore, Approve.
The API server records the answer; the run resumes, copies the table back, and the console's audit
trail names the approver.
"""

from __future__ import annotations

import re
import threading
import time
import traceback

from tests.browser.conftest import browser_page
from tests.dag_loading import load_dag, shipped_policy

PROD = "triflow-ai-production-db"
TARGET = "triflow-prod-restore-ui"


def approve_in_browser(api_server, screenshots, done: threading.Event, outcome: dict) -> None:
    try:
        with browser_page(api_server.base_url, api_server.password) as page:
            deadline = time.monotonic() + 240
            while not done.is_set():
                page.goto(f"{api_server.base_url}/required_actions")
                page.wait_for_timeout(2000)
                pending = page.get_by_text("back into", exact=False)
                if pending.count():
                    break
                if time.monotonic() > deadline:
                    outcome["error"] = "no pending approval appeared under Required Actions"
                    page.screenshot(path=str(screenshots / "approval-none.png"), full_page=True)
                    return
            else:
                return
            page.screenshot(path=str(screenshots / "approval-required-actions.png"), full_page=True)
            pending.first.click()
            page.wait_for_timeout(3000)
            page.screenshot(path=str(screenshots / "approval-task.png"), full_page=True)
            outcome["page_text"] = page.locator("body").inner_text()
            page.get_by_role("button", name="Approve").click()
            page.wait_for_timeout(3000)
            page.screenshot(path=str(screenshots / "approval-answered.png"), full_page=True)
            outcome["approved"] = True
            done.wait(timeout=300)  # the run finishes in the main thread; then read the console
            page.goto(f"{api_server.base_url}/backstop-console/")
            row = page.locator("#panel-audit tbody tr", has_text=TARGET).first
            outcome["audit_row"] = row.inner_text()
    except Exception:
        outcome["error"] = traceback.format_exc()


def test_approving_the_manual_restore_in_the_ui_completes_the_run(
    api_server, data_plane, local_stack, tmp_path, monkeypatch, screenshots
):
    dag = load_dag(
        "restore_point_in_time.py", "restore_point_in_time", shipped_policy(), tmp_path, monkeypatch
    )
    done, outcome = threading.Event(), {}
    browser = threading.Thread(
        target=approve_in_browser, args=(api_server, screenshots, done, outcome), daemon=True
    )
    browser.start()
    try:
        dag_run = dag.test(
            run_conf={
                "source": PROD,
                "target_instance_id": TARGET,
                "checks": ["workflows-present"],
                "tables": ["core.workflows"],
            }
        )
    finally:
        done.set()
        browser.join(timeout=60)
    assert outcome.get("approved"), outcome
    from tests.dag_loading import task_states

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states["approve"] == "success" and states["copy_back"] == "success", states
    assert data_plane.sql("SELECT COUNT(*) FROM core.workflows")[0][0] == 120
    # The console's audit trail: who approved (the UI user), what was copied back, where the old table is
    audit = outcome.get("audit_row", "")
    assert re.search(r"Approve\s+by\s+admin\b", audit), outcome
    assert "core.workflows" in audit and "backstop_before_restore_" in audit, audit

    # The manual-restore report is written after the decision and names the approver.
    report = newest_restore_report(local_stack.aws_endpoint_url)
    assert "decision" in report, report
    assert report["decision"]["option"] == "Approve" and report["decision"]["by"] == "admin", report[
        "decision"
    ]
    assert report["copy_back"]["copied"] == ["core.workflows"], report.get("copy_back")


def newest_restore_report(endpoint_url: str) -> dict:
    import json

    import boto3

    s3 = boto3.client(
        "s3",
        region_name="ap-northeast-2",
        endpoint_url=endpoint_url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    objects = s3.list_objects_v2(Bucket="triflow-backstop-reports", Prefix="reports/restores/")["Contents"]
    mine = [o for o in objects if TARGET in o["Key"]]
    newest = max(mine, key=lambda o: o["LastModified"])
    return json.loads(s3.get_object(Bucket="triflow-backstop-reports", Key=newest["Key"])["Body"].read())
