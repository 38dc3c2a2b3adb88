"""The DR console needs the Airflow login, and appears in the Airflow UI's navigation."""

from __future__ import annotations


def test_the_console_requires_the_airflow_login(api_server):
    status, _, headers = api_server.get("/backstop-console/", accept="text/html")
    assert status == 303 and headers["location"].startswith("/auth/login"), (status, headers)

    status, body, _ = api_server.get("/backstop-console/")  # an API client without a token
    assert status == 401, (status, body)

    status, body, _ = api_server.get("/backstop-console/", token="not-a-jwt")
    assert status == 403, (status, body)

    status, body, headers = api_server.get("/backstop-console/", token=api_server.token(), accept="text/html")
    assert status == 200, (status, body[:500])
    assert (
        "script-src" not in headers["content-security-policy"]
        and "default-src 'none'" in headers["content-security-policy"]
    )
    assert "<script" not in body
    for panel in ("freshness", "drills", "restorable", "retention", "audit"):
        assert f'id="panel-{panel}"' in body


def test_the_console_is_a_page_of_the_airflow_ui(page, api_server):
    page.goto(f"{api_server.base_url}/")
    page.get_by_role("link", name="DR console").click()
    page.wait_for_url("**/dr-console")
    frame = page.frame_locator("iframe")
    frame.locator("h1").wait_for()
    assert frame.locator("h1").inner_text() == "Backstop DR console"
