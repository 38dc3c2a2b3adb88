"""Celery settings for Backstop's workers: Airflow's own, plus the modules each worker imports once.

Set `[celery] celery_config_options = backstop.airflow.celery_config.CELERY_CONFIG`
(`AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS`; docker-compose.yaml and the Celery topology do).

Every task runs in a fresh fork of a Celery pool process. Airflow preloads a few modules there
(`on_celery_import_modules` in the celery provider); Backstop's tasks also need the DAG-bag
parser, boto3, the amazon provider's hooks and Backstop's own modules, which each task would
otherwise import again. Celery's `imports` setting imports `backstop.airflow.worker_warmup` in
the worker's main process before the pool forks, so every task starts with them already loaded
(shared copy-on-write). Restart workers after deploying new library code, as for plugins.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), "backstop.airflow.worker_warmup"),
}
