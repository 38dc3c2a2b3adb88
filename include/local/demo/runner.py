"""Airflow inside the demo process: one metadata DB, DAG files loaded fresh, `dag.test()`, results.

Running every scenario in one process pays Airflow's fixed costs once (interpreter and CLI
start, building the in-process execution API: about 16 s per `airflow dags test` process).
The pieces, in the order the harness uses them:

- ``prepare_process(home)`` sets AIRFLOW_HOME and friends; it must run before anything imports
  Airflow (Airflow reads its configuration once, on import).
- ``AirflowSetup``: a thread that imports Airflow, migrates the metadata DB and builds the
  in-process execution API while the local stack starts.
- ``load_dag(dag_file, dag_id, policy_file)``: imports dags/<dag_file> under a new module name
  with BACKSTOP_POLICY_FILE pointing at the scenario's policy (as tests/dag_loading.py does).
- ``run_dag(dag, logical_date, conf)``: ``dag.test()``.
- ``read_run(dag_id, run_id)``: task states, map indexes, labels and return values, read with
  Airflow's ORM session.
- ``LogSink``: the process's stdout/stderr while Airflow runs, so each scenario's logs land in
  its own file (see the class for why this is not a ``logging.Handler``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from include.local.dag_files import import_dags
from include.local.settings import REPO_ROOT, Pool, airflow_home_env

DAGS_DIR = REPO_ROOT / "dags"
POLICY_ENV_VAR = "BACKSTOP_POLICY_FILE"  # read by backstop.policy when a DAG file is parsed


@dataclass(frozen=True)
class TaskRow:
    """One task instance of a finished run."""

    task_id: str
    map_index: int
    state: str
    label: str | None  # the rendered map index (e.g. the database a mapped task snapshots)
    tries: int
    duration: float | None
    xcom: Any  # the return_value XCom, deserialized; None when there is none


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    state: str
    tasks: list[TaskRow]


# --- process setup ------------------------------------------------------------------------------


def prepare_process(home: Path) -> None:
    """Point this process's Airflow at `home` and the repository (before Airflow is imported)."""
    if "airflow" in sys.modules:
        raise RuntimeError("prepare_process() must run before Airflow is imported")
    os.environ.update(airflow_home_env(home))
    for path in (str(REPO_ROOT), str(REPO_ROOT / "plugins")):  # `import backstop` in the DAG files
        if path not in sys.path:
            sys.path.insert(0, path)


class AirflowSetup(threading.Thread):
    """Imports Airflow, migrates the metadata DB and readies the in-process execution API, in a thread.

    All three are paid once per process, and the main thread spends the local stack's start-up
    mostly waiting on subprocesses and HTTP, so they run meanwhile. In-process, the migration
    costs no second interpreter and Airflow import (what `airflow db migrate` would). The
    execution API is the biggest of the three: building the FastAPI app, then (on its first
    request) cadwyn generating the versioned routes, about 10 s on the 2-core machine; a
    request to its /health endpoint does that here instead of inside the first task. Call
    ``finish()`` before using Airflow from the main thread.
    """

    def __init__(self) -> None:
        super().__init__(name="airflow-setup", daemon=True)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            import airflow.sdk  # noqa: F401  (reads the configuration prepare_process() set)
            from airflow.utils.db import upgradedb

            upgradedb()  # what `airflow db migrate` does; creates the tables on a new DB
        except BaseException as exc:  # re-raised in the main thread by finish()
            self.error = exc
            return
        try:
            import httpx
            from airflow.sdk.execution_time.supervisor import in_process_api_server

            api = in_process_api_server()  # cached: every dag.test() uses this one
            client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid.")
            client.get("/health").raise_for_status()
        except Exception:  # only a head start (Airflow internals): the first task pays it instead
            logging.getLogger(__name__).warning("could not ready the execution API early", exc_info=True)

    def finish(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


def ensure_pools(pools: Iterable[Pool]) -> None:
    """Create or update the pools of airflow_settings.yaml (what `airflow pools set` does)."""
    from airflow.models.pool import Pool as PoolModel
    from airflow.utils.session import create_session

    with create_session() as session:
        for pool in pools:
            PoolModel.create_or_update_pool(
                pool.name, pool.slots, pool.description, pool.include_deferred, session=session
            )


# --- running --------------------------------------------------------------------------------------


def load_dag(dag_file: str, dag_id: str, policy_file: Path) -> Any:
    """Import dags/<dag_file> fresh under `policy_file` and return the DAG `dag_id`.

    BACKSTOP_POLICY_FILE stays set afterwards: `dag.test()` parses the DAG folder again to
    record the DAGs in the metadata DB, and must see the same policy.
    """
    os.environ[POLICY_ENV_VAR] = str(policy_file)
    dags = import_dags(DAGS_DIR / dag_file)
    if dag_id not in dags:
        raise LookupError(f"dags/{dag_file} defines {sorted(dags)}, not {dag_id!r}")
    return dags[dag_id]


def run_dag(dag: Any, logical_date: datetime, conf: dict[str, Any] | None = None) -> RunRecord:
    """One `dag.test()` run at `logical_date` with `conf`; returns what the metadata DB holds."""
    dag_run = dag.test(logical_date=logical_date, run_conf=conf)
    return read_run(dag_run.dag_id, dag_run.run_id)


def _text(state: Any) -> str:
    return str(getattr(state, "value", state))


def read_run(dag_id: str, run_id: str) -> RunRecord:
    """A run's state and every task instance with its return value, from the metadata DB."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            raise LookupError(f"no run {run_id!r} of {dag_id!r} in the metadata DB")
        xcoms = {
            (x.task_id, x.map_index): XComModel.deserialize_value(x)
            for x in session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.key == "return_value",
                )
            )
        }
        tasks = [
            TaskRow(
                task_id=ti.task_id,
                map_index=ti.map_index,
                state=_text(ti.state),
                label=ti.rendered_map_index,
                tries=ti.try_number,
                duration=ti.duration,
                xcom=xcoms.get((ti.task_id, ti.map_index)),
            )
            for ti in session.scalars(
                select(TaskInstance)
                .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
                .order_by(TaskInstance.task_id, TaskInstance.map_index)
            )
        ]
        return RunRecord(run_id=run.run_id, state=_text(run.state), tasks=tasks)


# --- logs -------------------------------------------------------------------------------------------


class LogSink(io.TextIOBase):
    """This process's stdout and stderr while the demo runs: each scenario's output to its own file.

    Why not a ``logging.Handler``: Airflow 3 logs through structlog, whose loggers write straight
    to ``sys.stdout`` (bound when each logger is created) and never reach the ``logging`` module;
    a root handler sees about one line in fifty of a task run. So the sink stands in for
    stdout/stderr from before Airflow is imported (every logger and Airflow's own console handler
    bind to it) and routes what they write: to the current scenario's log file (``to(path)``),
    else to the setup log. The demo's report goes to the real stdout (``install()`` returns it).
    """

    def __init__(self, setup_log: Path) -> None:
        super().__init__()
        setup_log.parent.mkdir(parents=True, exist_ok=True)
        self._setup = open(setup_log, "w", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._current: IO[str] | None = None
        self._lock = threading.Lock()
        self._saved: tuple[Any, Any] | None = None

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:  # no colour codes in log files
        return False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            target = self._current or self._setup
            if not target.closed:  # after close(): late writes (e.g. at exit) are dropped
                target.write(text)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            for target in (self._current, self._setup):
                if target is not None and not target.closed:
                    target.flush()

    @contextlib.contextmanager
    def to(self, path: Path) -> Iterator[Path]:
        """Route everything written inside the block to `path` (truncated first)."""
        file = open(path, "w", encoding="utf-8")  # noqa: SIM115
        with self._lock:
            previous, self._current = self._current, file
        try:
            yield path
        finally:
            with self._lock:
                self._current = previous
                file.close()

    def install(self) -> Any:
        """Replace sys.stdout and sys.stderr with the sink; returns the real stdout."""
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = sys.stderr = self
        return self._saved[0]

    def uninstall(self) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None

    def close(self) -> None:
        self.uninstall()
        with self._lock:
            self._setup.close()
        super().close()
