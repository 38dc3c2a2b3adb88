"""`make up` / `make down` for real: the whole stack as `make up` starts it, on a free port.

One test (about a minute, most of it Airflow importing itself in four processes), because
each start costs that much: it becomes healthy; connections, pools and variables are in the
metadata DB (Admin shows them); the executor is small; a task process reaches the execution
API on the chosen port (a real DAG run); the heartbeat advances; `down` leaves no process
behind. Nothing is patched.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from include.local.dataplane import LocalDataPlane
from include.local.settings import REPO_ROOT

pytestmark = pytest.mark.timeout(600)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env() -> dict[str, str]:
    """This test process's environment without its own Airflow settings (its test home and DB)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BACKSTOP_"))}


def _up(base: Path, port: int, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "include.local.up", command, "--dir", str(base), "--port", str(port)],
        cwd=REPO_ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=420,
    )


class Api:
    """The public REST API as the admin the login line names."""

    def __init__(self, port: int, password: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        body = json.dumps({"username": "admin", "password": password}).encode()
        req = urllib.request.Request(
            f"{self.base}/auth/token", body, {"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            self.token = json.loads(resp.read())["access_token"]

    def call(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}{path}", data, headers, method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())


def _everything(state: dict, base: Path) -> list[psutil.Process]:
    """Every process make up started: Airflow trees, heartbeat, postgres, moto, Slack recorder."""
    pids = [e["pid"] for e in state["processes"].values()]
    pids += json.loads((base / "stack.json").read_text())["pids"].values()
    pids.append(LocalDataPlane(base / "pg").server_pid())
    procs = []
    for pid in pids:
        root = psutil.Process(pid)
        procs += [root, *root.children(recursive=True)]
    return procs


def _heartbeat(base: Path):
    plane = LocalDataPlane(base / "pg")
    plane.port = json.loads(plane.state_file.read_text())["port"]
    return plane.sql("SELECT updated_at FROM core.heartbeat WHERE id = 1")[0][0]


def test_make_up_is_healthy_runs_a_task_on_its_port_and_make_down_leaves_nothing():
    base = Path(tempfile.mkdtemp(prefix="bsup-"))  # short: the data plane's Unix socket lives here
    port = _free_port()
    procs: list[psutil.Process] = []
    try:
        done = _up(base, port, "up")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Airflow UI   http://localhost:{port}/" in done.stdout
        password = json.loads(
            (base / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()
        )["admin"]
        assert f"login        admin / {password}" in done.stdout
        state = json.loads((base / "up.json").read_text())
        procs = _everything(state, base)

        api = Api(port, password)
        health = api.call("/api/v2/monitor/health")
        assert {
            k: health[k]["status"] for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        } == {
            "metadatabase": "healthy",
            "scheduler": "healthy",
            "triggerer": "healthy",
            "dag_processor": "healthy",
        }
        # airflow_settings.yaml is in the metadata DB, placeholders filled from the running stack
        aws = api.call("/api/v2/connections/aws_default")
        stack = json.loads((base / "stack.json").read_text())
        assert json.loads(aws["extra"])["endpoint_url"] == stack["aws_endpoint_url"]
        assert api.call("/api/v2/connections/slack_api_default")["password"] == "***"
        assert "rds_copy_ap-northeast-1" in {p["name"] for p in api.call("/api/v2/pools")["pools"]}
        assert api.call("/api/v2/variables/backstop_environment")["value"] == "local"
        # sized for a laptop: a handful of LocalExecutor workers, not 32
        scheduler = psutil.Process(state["processes"]["scheduler"]["pid"])
        workers = [p for p in scheduler.children(recursive=True) if "LocalExecutor" in " ".join(p.cmdline())]
        assert 1 <= len(workers) <= 4

        # a real task: the sweeper's one task must reach the execution API on this port. Healthy
        # means every component is up, not that the dag-processor's first pass over ~20 files is done.
        for _ in range(120):  # a count, not a clock
            try:
                api.call("/api/v2/dags/drill_orphan_sweeper")
                break
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
                time.sleep(1)
        api.call("/api/v2/dags/drill_orphan_sweeper", "PATCH", {"is_paused": False})
        run = api.call("/api/v2/dags/drill_orphan_sweeper/dagRuns", "POST", {"logical_date": None})
        run_path = f"/api/v2/dags/drill_orphan_sweeper/dagRuns/{urllib.parse.quote(run['dag_run_id'])}"
        for _ in range(100):  # a count, not a clock: a loaded machine answers slowly
            try:
                run = api.call(run_path)
            except TimeoutError:
                continue
            if run["state"] in ("success", "failed"):
                break
            time.sleep(2)
        assert run["state"] == "success", run

        first = _heartbeat(base)
        for _ in range(30):
            time.sleep(1)
            if _heartbeat(base) > first:
                break
        assert _heartbeat(base) > first, "the heartbeat writer did not advance core.heartbeat"
        procs += _everything(state, base)  # task processes and workers started since
    finally:
        stopped = _up(base, port, "down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    left = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], [(p.pid, p.cmdline()) for p in left]
    assert not (base / "up.json").exists()
    shutil.rmtree(base, ignore_errors=True)
