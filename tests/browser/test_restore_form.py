"""Airflow's own trigger form for restore_point_in_time, in a real Chromium: bad values are refused
and no run is created.

What Airflow 3.3.2's form checks in the browser is whether required fields are filled: an
emptied required field disables Trigger, so nothing is submitted. A JSON-schema `pattern` (the
target id must be an RDS identifier containing '-restore-') is not checked by the form; it is
refused by the API server when Trigger is pressed, the form stays open with the error, and no
run exists. Both are asserted here, the second as what it is (a server-side refusal).
"""

from __future__ import annotations

import json


def dag_runs(api_server, dag_id: str) -> int:
    status, body, _ = api_server.get(f"/api/v2/dags/{dag_id}/dagRuns", token=api_server.token())
    assert status == 200, body
    return json.loads(body)["total_entries"]


def open_form(page, api_server):
    page.goto(f"{api_server.base_url}/dags/restore_point_in_time")
    page.get_by_test_id("trigger-dag-button").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog


def test_an_emptied_required_field_disables_trigger_before_submission(page, api_server, screenshots):
    before = dag_runs(api_server, "restore_point_in_time")
    dialog = open_form(page, api_server)
    trigger = dialog.get_by_role("button", name="Trigger", exact=True)
    assert trigger.is_enabled()  # the defaults are a valid request

    dialog.locator("#element_instance_class").fill("")
    dialog.locator("#element_instance_class").blur()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[role=dialog] button')]"
        ".some(b => b.innerText.trim() === 'Trigger' && b.disabled)"
    )
    dialog.screenshot(path=str(screenshots / "restore-form-required.png"))
    assert trigger.is_disabled()
    assert dag_runs(api_server, "restore_point_in_time") == before


def test_a_bad_target_id_is_refused_and_no_run_is_created(page, api_server, screenshots):
    before = dag_runs(api_server, "restore_point_in_time")
    dialog = open_form(page, api_server)
    dialog.locator("#element_target_instance_id").fill("prod copy; DROP")  # not an RDS id, no '-restore-'
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    refusal = page.get_by_text("Failed to Trigger")
    refusal.wait_for()
    page.screenshot(path=str(screenshots / "restore-form-refused.png"))
    assert refusal.is_visible() and dialog.is_visible()  # refused, and the form stays open to fix it
    assert dag_runs(api_server, "restore_point_in_time") == before
