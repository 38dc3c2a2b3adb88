"""The Celery worker warm-up: Airflow's Celery settings plus one module the worker imports before forking."""

from __future__ import annotations

import logging
import subprocess
import sys

from backstop.airflow import worker_warmup
from backstop.airflow.celery_config import CELERY_CONFIG


def test_celery_config_is_airflows_plus_the_warmup_import():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    assert {k: v for k, v in CELERY_CONFIG.items() if k != "imports"} == {
        k: v for k, v in DEFAULT_CELERY_CONFIG.items() if k != "imports"
    }
    assert CELERY_CONFIG["imports"][-1] == "backstop.airflow.worker_warmup"


def test_every_listed_module_imports_in_a_fresh_interpreter():
    code = (
        "import sys; sys.path[:0] = ['plugins', '.']\n"
        "from backstop.airflow.worker_warmup import MODULES, warm\n"
        "assert warm() == [], 'failed'\n"
        "missing = [m for m in MODULES if m not in sys.modules]\n"
        "assert not missing, missing\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_module_that_cannot_be_imported_is_logged_and_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger=worker_warmup.__name__):
        failed = worker_warmup.warm(("backstop.no_such_module", "backstop.naming"))

    assert failed == ["backstop.no_such_module"]
    assert "could not import backstop.no_such_module" in caplog.text
