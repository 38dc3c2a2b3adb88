"""The one way tests load a DAG file: fresh, under a policy the test chooses.

`load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy, tmp_path, monkeypatch)` writes the
policy to a temporary file, points BACKSTOP_POLICY_FILE at it and imports the DAG file under a
new module name (so each test sees its own policy), then returns the DAG with that id.
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def shipped_policy(retries: dict[str, Any] | None = None) -> dict:
    """A copy of include/backup_policy.yaml as data, with fast retries for tests."""
    from backstop.policy import DEFAULT_POLICY_PATH

    policy = copy.deepcopy(yaml.safe_load(DEFAULT_POLICY_PATH.read_text()))
    policy["defaults"]["retries"] = retries or {"count": 1, "delay": "1s", "max_delay": "2s"}
    return policy


def load_dag(file_name: str, dag_id: str, policy: dict | None, tmp_path: Path, monkeypatch) -> Any:
    """Import dags/<file_name> fresh with `policy` (default: the shipped one) and return `dag_id`."""
    policy_file = tmp_path / f"policy-{uuid.uuid4().hex[:6]}.yaml"
    policy_file.write_text(yaml.safe_dump(policy if policy is not None else shipped_policy()))
    monkeypatch.setenv("BACKSTOP_POLICY_FILE", str(policy_file))
    from include.local.dag_files import import_dags

    dags = import_dags(ROOT / "dags" / file_name)
    return dags[dag_id]


def task_states(dag_run) -> dict[str, str]:
    """task_id -> state of every task instance of a finished run (mapped ones: the last seen)."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}
