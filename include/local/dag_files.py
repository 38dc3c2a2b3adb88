"""Import a DAG file the way Airflow's DagBag does, for the demo and the tests.

A DAG made in a `with DAG(...)` block registers itself (DagContext auto-registration); DAG
files need no module variable per DAG. Each call imports the file fresh under a new module
name, so the DAGs see the policy file in force now (BACKSTOP_POLICY_FILE).
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any


def import_dags(path: Path) -> dict[str, Any]:
    """dag_id -> DAG for every DAG the file defines."""
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    name = f"backstop_dagfile_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    DagContext.current_autoregister_module_name = name
    DagContext.autoregistered_dags.clear()
    try:
        spec.loader.exec_module(module)
        return {dag.dag_id: dag for dag, _ in DagContext.autoregistered_dags}
    finally:
        DagContext.current_autoregister_module_name = None
        DagContext.autoregistered_dags.clear()
        sys.modules.pop(name, None)
