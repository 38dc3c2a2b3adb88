"""Imported once by each Celery worker before its pool forks (see celery_config.py).

What every Backstop task process would otherwise import for itself: the task runner's DAG-bag
parser, boto3 and the amazon provider's hooks, and the Backstop modules the DAG files and
operators load. An import that fails here is logged and skipped: the task that needs the module
imports it again and fails there, with its own log, instead of the whole worker refusing to start.
"""

from __future__ import annotations

import gc
import importlib
import logging

log = logging.getLogger(__name__)

MODULES = (
    "airflow.dag_processing.dagbag",
    "airflow.sdk.execution_time.task_runner",
    "boto3",
    "airflow.providers.amazon.aws.hooks.base_aws",
    "airflow.providers.amazon.aws.hooks.rds",
    "airflow.providers.amazon.aws.hooks.s3",
    "backstop.policy.loader",
    "backstop.airflow.dag_defaults",
    "backstop.airflow.notifier",
    "backstop.airflow.triggers",
    "backstop.snapshots.create",
    "backstop.snapshots.copy",
    "backstop.snapshots.targets",
    "backstop.retention.operators",
)


def warm(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Import `modules`; returns those that could not be imported (logged)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            log.warning(
                "worker warm-up: could not import %s; tasks will import it themselves", name, exc_info=True
            )
            failed.append(name)
    gc.freeze()  # as Airflow's own preload does: keep these objects out of GC, pages shared after fork
    return failed


warm()
