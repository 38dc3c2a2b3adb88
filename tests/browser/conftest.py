"""Browser-test infrastructure: Debian's Chromium driven by Playwright, against a real `airflow
api-server` started on a free port over this test process's AIRFLOW_HOME (its SQLite metadata DB,
the local stack's connections), logged in through the Simple auth manager's own login page.

Chromium comes from Debian (`make test` installs it as root with apt; Playwright's own browser
download is impossible here). Without it these tests skip, saying why, except under CI=true,
where they fail: CI must not go green without them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / ".local" / "screenshots"
USER = "admin"


def chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    reason = (
        f"Debian's chromium is not installed ({CHROMIUM}); `make test` installs it when run as root "
        "with apt (apt-get install chromium)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}. Under CI=true the browser tests must run, not skip.")
    pytest.skip(reason)


@contextlib.contextmanager
def browser_page(base_url: str | None = None, password: str | None = None) -> Iterator[Any]:
    """A page in a fresh Chromium (its own user-data-dir), logged in when a password is given.

    A context manager rather than a fixture so a test can also drive a browser from a second
    thread (Playwright's sync API belongs to the thread that started it).
    """
    from playwright.sync_api import sync_playwright

    chromium_or_skip()
    with tempfile.TemporaryDirectory(prefix="backstop-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            if base_url and password:
                login(page, base_url, password)
            yield page
        finally:
            context.close()


def login(page: Any, base_url: str, password: str, next_path: str = "/") -> None:
    """Log in through the Simple auth manager's login form, as a person would."""
    page.goto(f"{base_url}/auth/login?next={base_url}{next_path}")
    page.locator("input[name=username]").fill(USER)
    page.locator("input[name=password]").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_function(
        "() => document.cookie.includes('_token') || !location.pathname.startsWith('/auth')"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ApiServer:
    base_url: str
    password: str
    process: subprocess.Popen
    log_path: Path

    def get(
        self, path: str, token: str | None = None, accept: str = "application/json"
    ) -> tuple[int, str, dict]:
        """One HTTP GET without following redirects: (status, body, headers)."""
        request = urllib.request.Request(f"{self.base_url}{path}", headers={"Accept": accept})
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)

    def token(self) -> str:
        body = json.dumps({"username": USER, "password": self.password}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture(scope="session")
def api_server(local_stack, airflow_db, tmp_path_factory) -> Iterator[ApiServer]:
    """`airflow api-server` (core UI + API, one worker) on a free port, sharing this process's
    AIRFLOW_HOME and environment (the local stack's connections), with the DAG files serialized
    into the metadata DB (`airflow dags reserialize`, in parallel with the server's start)."""
    chromium_or_skip()
    work = tmp_path_factory.mktemp("api-server")
    password = secrets.token_urlsafe(12)
    passwords = work / "passwords.json"
    passwords.write_text(json.dumps({USER: password}))
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    airflow = [sys.executable, "-m", "airflow"]
    log_path = work / "api-server.log"
    with open(work / "reserialize.log", "w") as reserialize_log:
        reserialize = subprocess.Popen(
            [*airflow, "dags", "reserialize"], env=env, stdout=reserialize_log, stderr=subprocess.STDOUT
        )
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*airflow, "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", password, process, log_path)
    try:
        deadline = time.monotonic() + 240
        while True:
            if process.poll() is not None:
                pytest.fail(f"airflow api-server exited with {process.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(OSError):
                if server.get("/api/v2/monitor/health")[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"airflow api-server not healthy after 240 s:\n{server.log_tail()}")
            time.sleep(1)
        if reserialize.wait(timeout=300) != 0:
            pytest.fail(f"airflow dags reserialize failed:\n{(work / 'reserialize.log').read_text()[-3000:]}")
        yield server
    finally:
        if reserialize.poll() is None:
            reserialize.kill()
        stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group this fixture started (the server and any worker it forked), then SIGKILL."""
    import signal

    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def page(api_server) -> Iterator[Any]:
    """A logged-in page in a fresh Chromium profile."""
    with browser_page(api_server.base_url, api_server.password) as page:
        yield page


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def pg_plane_browser():
    """The embedded PostgreSQL data plane with the demo source database (for drills and restores)."""
    from include.local.dataplane import LocalDataPlane

    plane = LocalDataPlane().start()
    plane.seed_source()
    try:
        yield plane
    finally:
        plane.destroy()


@pytest.fixture
def data_plane(fleet, local_stack, pg_plane_browser, monkeypatch):
    """As tests/drills' drill_world: the master role gets the fleet secret's password, the source is
    re-seeded, old clones and before-restore schemas dropped, BACKSTOP_LOCAL_DATAPLANE set."""
    from tests.drills.conftest import prepare_data_plane

    plane = pg_plane_browser
    prepare_data_plane(plane, local_stack.aws_endpoint_url, monkeypatch)
    return plane
