"""The console's FastAPI app, mounted by Airflow's API server (plugins/dr_console.py).

Airflow does not authenticate plugin apps: a mounted app inherits none of the core API's
dependencies. So every route here resolves the caller from the same credential the Airflow UI
uses (the `_token` cookie set at login, or an `Authorization: Bearer` JWT), through Airflow's own
`resolve_user_from_token`, and asks the auth manager whether that user may read DAGs. A browser
without a login is sent to the login page; anything else gets 401/403. The page itself carries a
Content-Security-Policy that allows no scripts and no outside fetches.

Only fastapi is imported here (this module is imported wherever the plugin manager runs); the
console's data and rendering modules load on the first request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

URL_PREFIX = "/backstop-console"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; base-uri 'none'"

app = FastAPI(title="Backstop DR console", docs_url=None, redoc_url=None, openapi_url=None)


async def current_user(request: Request) -> Any:
    """The Airflow user behind this request, or HTTPException(401/403)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    user = await resolve_user_from_token(token or request.cookies.get(COOKIE_NAME_JWT_TOKEN))
    if not get_auth_manager().is_authorized_dag(method="GET", user=user):
        raise HTTPException(status_code=403, detail="Forbidden: the DR console needs read access to DAGs")
    return user


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _login_redirect(request: Request) -> Response:
    from airflow.api_fastapi.app import get_auth_manager

    return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)


def render_page() -> str:
    """Load the policy, gather every panel, render (blocking I/O: run in a worker thread)."""
    from backstop.console.gather import gather
    from backstop.console.render import page
    from backstop.policy import load_policy

    return page(gather(load_policy()))


@app.get("/", response_class=HTMLResponse)
async def console(request: Request) -> Response:
    try:
        await current_user(request)
    except HTTPException as exc:
        if exc.status_code == 401 and _wants_html(request):
            return _login_redirect(request)
        raise
    html = await asyncio.to_thread(render_page)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
