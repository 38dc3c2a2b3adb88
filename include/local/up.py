"""`make up` / `make down`: Airflow with its UI against the local stack, in the background.

`make up` starts, each in its own process group with a log under `<dir>/logs/`:
the AWS emulator and the Slack recorder (seeded with the fleet, include/local/stack.py), the
data plane (embedded PostgreSQL, include/local/dataplane.py) with a heartbeat writer so
`core.heartbeat` advances and a drill's RPO is real, then Airflow's api-server, scheduler,
dag-processor and triggerer. The metadata DB (SQLite in `<dir>/airflow`) is migrated and gets
the connections, pools and variables of airflow_settings.yaml (include/local/metadata.py), so
Admin shows them. Sized for a 2-core laptop: LocalExecutor with parallelism 4, one api-server
worker, one parsing process. It returns once /api/v2/monitor/health says every component is
healthy, and prints the URL, the login, the time it took and the memory used.

The port is BACKSTOP_PORT (default 8080); task processes reach the execution API on it.
Every pid (with its start time, so a recycled pid is never killed) is in `<dir>/up.json`.
`make down` stops Airflow first (whole process trees: LocalExecutor workers and task
processes included), then the heartbeat, the data plane (pg_ctl as its own user when root)
and the stack, and names anything it could not stop (exit 1).

    python -m include.local.up [up|down|status] [--dir .local] [--port 8080]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from include.local import settings as local_settings

ROOT = local_settings.REPO_ROOT
DEFAULT_DIR = ROOT / ".local"
DEFAULT_PORT = 8080
HEALTH_TIMEOUT = 240.0  # seconds; a loaded 2-core machine is slow, a healthy one takes < 60
STOP_TIMEOUT = 15.0
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class UpError(RuntimeError):
    """`make up` could not bring the stack up (the message says which part and its log)."""


# --- the environment ---------------------------------------------------------------


def airflow_settings_env(port: int) -> dict[str, str]:
    """Airflow configuration of `make up`: small executor, one port, a fixed login."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # task processes at once: a 2-core laptop's share
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def process_env(stack_env: dict[str, str], home: Path, port: int, dataplane_env: dict[str, str]) -> dict:
    """The whole environment of the Airflow processes.

    The stack's AIRFLOW_CONN_* / AIRFLOW_VAR_* are left out: connections and variables live in
    the metadata DB, where Admin shows them (and an environment variable would shadow them).
    """
    env = local_settings.airflow_env(stack_env, home)
    for key in [k for k in env if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
        del env[key]
    env.update(dataplane_env)
    env.update(airflow_settings_env(port))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def metadata_db_env(plane: Any) -> dict[str, str]:
    """The metadata DB: database `airflow` in the data plane's PostgreSQL (over its Unix socket).

    Not SQLite: four components and the task processes write at once, and SQLite's single
    writer made API calls wait for seconds on a loaded 2-core machine. The server is running
    anyway, and psycopg 3 is already installed (it serves both the sync and the async engine).
    """
    with plane.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'").fetchone():
            conn.execute("CREATE DATABASE airflow")
    url = f"postgresql+psycopg://postgres@/airflow?host={plane.socket_dir}&port={plane.port}"
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url,
    }


# --- processes -----------------------------------------------------------------------


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> dict[str, Any]:
    """Start ``argv`` in its own process group (session), output to ``<log_dir>/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return {"pid": proc.pid, "created": _create_time(proc.pid), "log": str(log_dir / f"{name}.log")}


def _ours(entry: dict[str, Any]):
    """The psutil.Process of a recorded entry, or None if it is gone (or the pid was reused)."""
    import psutil

    try:
        proc = psutil.Process(int(entry["pid"]))
        if entry.get("created") is not None and abs(proc.create_time() - entry["created"]) > 1:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(proc.pid, os.WNOHANG)
            return None
        return proc
    except (psutil.Error, KeyError, ValueError):
        return None


def stop_tree(entry: dict[str, Any], timeout: float = STOP_TIMEOUT) -> list[int]:
    """SIGTERM a recorded process, its group and every descendant; SIGKILL what lingers.

    Returns the pids still alive afterwards (empty when everything stopped).
    """
    import psutil

    root = _ours(entry)
    if root is None:
        return []
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        procs = [root]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root.pid, 15)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _, alive = psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def tree_memory(pids: list[int]) -> int:
    """Memory of these processes and all their descendants, in bytes: PSS (shared pages split
    between the processes sharing them, so forked workers are not counted 5 times), else RSS."""
    import psutil

    seen: dict[int, int] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    try:
                        seen[proc.pid] = proc.memory_full_info().pss
                    except (psutil.AccessDenied, AttributeError):
                        seen[proc.pid] = proc.memory_info().rss
        except psutil.Error:
            continue
    return sum(seen.values())


def health(port: int) -> dict[str, str]:
    """Status of each component from /api/v2/monitor/health ({} while the api-server is down)."""
    try:
        url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        with urllib.request.urlopen(url, timeout=3) as resp:
            doc = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    return {key: str((doc.get(key) or {}).get("status")) for key in HEALTH_KEYS}


def _tail(path: str, limit: int = 3000) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# --- up / down -----------------------------------------------------------------------


class Up:
    """One `make up` stack rooted at ``base`` (state in ``base/up.json``)."""

    def __init__(self, base: Path = DEFAULT_DIR, port: int = DEFAULT_PORT) -> None:
        self.base = Path(base).resolve()
        self.port = port
        self.state_path = self.base / "up.json"
        self.home = self.base / "airflow"
        self.logs = self.base / "logs"
        self.state: dict[str, Any] = {}

    def _save(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)

    def load(self) -> dict[str, Any]:
        try:
            self.state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.state = {}
        return self.state

    def running(self) -> bool:
        """Everything recorded is alive and Airflow says it is healthy."""
        if not self.load():
            return False
        procs = self.state.get("processes", {})
        if not procs or any(_ours(entry) is None for entry in procs.values()):
            return False
        return all(v == "healthy" for v in health(int(self.state["port"])).values())

    def up(self, timeout: float = HEALTH_TIMEOUT) -> dict[str, Any]:
        from include.local.dataplane import start_for_stack
        from include.local.stack import LocalStack

        started = time.monotonic()
        if self.running():
            return {**self.state, "reused": True}
        if self.state_path.exists():
            self.down()  # leftovers of a previous run: stop them before starting afresh
        if not _port_free(self.port):
            raise UpError(
                f"port {self.port} is already in use; set BACKSTOP_PORT to a free port "
                f"(e.g. BACKSTOP_PORT=8081 make up)"
            )
        self.state = {"port": self.port, "base": str(self.base), "processes": {}}
        self._save()
        try:
            stack = LocalStack(self.base / "stack.json", seed=True, detach=True).start()
            self.state["stack_state"] = str(stack.state_path)
            self._save()
            plane = start_for_stack(stack.aws_endpoint_url, self.base / "pg")
            self.state["dataplane_dir"] = str(plane.base_dir)
            self._save()
            env = process_env(stack.env(), self.home, self.port, plane.env())
            env.update(metadata_db_env(plane))
            env["AIRFLOW__API_AUTH__JWT_SECRET"] = self._jwt_secret()
            self._start(
                "heartbeat",
                [
                    "-m",
                    "include.local.dataplane",
                    "heartbeat",
                    "--dir",
                    str(plane.base_dir),
                    "--port",
                    str(plane.port),
                ],
                env,
            )
            done = subprocess.run(
                [sys.executable, "-m", "include.local.metadata"],
                env={**env, **local_settings.stack_env(stack.state)},
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise UpError(
                    f"preparing the metadata DB failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
                )
            for name in AIRFLOW_COMPONENTS:
                argv = ["-m", "airflow", name]
                if name == "api-server":
                    argv += ["--port", str(self.port), "--host", "127.0.0.1", "--workers", "1"]
                self._start(name, argv, env)
            self._wait_healthy(started, timeout)
        except BaseException:
            self.down()
            raise
        self.state["seconds_to_healthy"] = round(time.monotonic() - started, 1)
        self.state["memory_bytes"] = self.memory()
        self._save()
        return self.state

    def _jwt_secret(self) -> str:
        """One signing key for every component (task tokens are made by the scheduler and checked
        by the api-server); random per machine, kept in the Airflow home (ignored, mode 0600)."""
        import secrets

        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "jwt_secret"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(64))
        return path.read_text().strip()

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.state["processes"][name] = spawn(name, [sys.executable, *argv], env, self.logs)
        self._save()

    def _wait_healthy(self, started: float, timeout: float) -> None:
        status: dict[str, str] = {}
        while time.monotonic() - started < timeout:
            for name, entry in self.state["processes"].items():
                if _ours(entry) is None:
                    raise UpError(
                        f"{name} exited during start-up; log {entry['log']}:\n{_tail(entry['log'])}"
                    )
            status = health(self.port)
            if status and all(v == "healthy" for v in status.values()):
                return
            time.sleep(1)
        raise UpError(
            f"Airflow was not healthy after {timeout:.0f}s ({status or 'api-server not answering'}); "
            f"logs in {self.logs}"
        )

    def memory(self) -> int:
        from include.local.dataplane import LocalDataPlane

        pids = [int(e["pid"]) for e in self.state.get("processes", {}).values()]
        with contextlib.suppress(Exception):
            stack = json.loads(Path(self.state["stack_state"]).read_text())
            pids += [int(p) for p in stack.get("pids", {}).values()]
        if self.state.get("dataplane_dir"):
            pg = LocalDataPlane(self.state["dataplane_dir"]).server_pid()
            pids += [pg] if pg else []
        return tree_memory(pids)

    def login(self) -> tuple[str, str | None]:
        path = self.home / "simple_auth_manager_passwords.json.generated"
        try:
            return "admin", json.loads(path.read_text()).get("admin")
        except (OSError, ValueError):
            return "admin", None

    def down(self) -> list[str]:
        """Stop everything recorded; returns what could not be stopped (empty = all stopped)."""
        from include.local.dataplane import DataPlaneError, LocalDataPlane
        from include.local.stack import LocalStack

        self.load()
        problems: list[str] = []
        procs = self.state.get("processes", {})
        # Airflow first (it uses the rest), the heartbeat writer last of the processes.
        for name in sorted(procs, key=lambda n: n == "heartbeat"):
            left = stop_tree(procs[name])
            if left:
                problems.append(f"{name}: pids {left} still running")
        if self.state.get("dataplane_dir"):
            plane = LocalDataPlane(self.state["dataplane_dir"])
            pid = plane.server_pid()
            try:
                plane.stop(strict=True)
            except DataPlaneError as exc:
                problems.append(f"data plane (postgres pid {pid}): {exc}")
            if pid and _ours({"pid": pid}) is not None and plane.server_pid():
                problems.append(f"data plane: postgres pid {pid} still running")
        stack_state = Path(self.state.get("stack_state") or self.base / "stack.json")
        if stack_state.exists():
            try:
                stack = LocalStack.attach(stack_state)
                pids = dict(stack.state.get("pids", {}))
                stack.stop()
                for name, pid in pids.items():
                    if _ours({"pid": pid}) is not None:
                        problems.append(f"{name}: pid {pid} still running")
            except Exception as exc:
                problems.append(f"local stack ({stack_state}): {exc}")
        if not problems:
            self.state_path.unlink(missing_ok=True)
        return problems


# --- CLI -------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.local.up")
    parser.add_argument("command", nargs="?", default="up", choices=["up", "down", "status"])
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="state, logs, Airflow home (default .local)")
    parser.add_argument(
        "--port", type=int, default=None, help="UI/API port (default: BACKSTOP_PORT, else 8080)"
    )
    args = parser.parse_args(argv)
    try:
        port = args.port or int(os.environ.get("BACKSTOP_PORT") or DEFAULT_PORT)
    except ValueError:
        print(f"error: BACKSTOP_PORT={os.environ['BACKSTOP_PORT']!r} is not a port number", file=sys.stderr)
        return 2
    if not 1 <= port <= 65535:
        print(f"error: port {port} is out of range 1-65535 (BACKSTOP_PORT / --port)", file=sys.stderr)
        return 2
    stack = Up(Path(args.dir), port)

    if args.command == "down":
        if not stack.state_path.exists() and not (stack.base / "stack.json").exists():
            print("make up is not running (nothing to stop)")
            return 0
        problems = stack.down()
        for line in problems:
            print(f"could not stop: {line}", file=sys.stderr)
        print("stopped: Airflow, heartbeat, data plane, AWS emulator, Slack recorder" if not problems else "")
        return 1 if problems else 0

    if args.command == "status":
        if not stack.running():
            print("not running (or not healthy)")
            return 1
        print(f"running on http://localhost:{stack.state['port']}  {health(int(stack.state['port']))}")
        return 0

    print(f"Starting the local stack and Airflow on port {port} (logs in {stack.logs}) ...", flush=True)
    try:
        state = stack.up()
    except (UpError, Exception) as exc:
        print(f"error: make up failed: {exc}", file=sys.stderr)
        return 1
    user, password = stack.login()
    port = int(state["port"])
    if state.get("reused"):
        print("Already running.")
    else:
        print(
            f"Healthy after {state['seconds_to_healthy']} s; memory {_mb(state['memory_bytes'])} (PSS, every process)"
        )
    print(f"\n  Airflow UI   http://localhost:{port}/")
    print(
        f"  login        {user} / {password or '(see ' + str(stack.home) + '/simple_auth_manager_passwords.json.generated)'}"
    )
    print(f"  logs         {stack.logs}/  (task logs in {stack.home}/logs)")
    print("  stop         make down\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
