"""Restore: byte-identical round trips, the approval gate, and no overwrite of a newer serial.

The backend restore runs under `dag.test()`, where the ApprovalOperator parks in
AWAITING_INPUT until a response is recorded from outside. The test records it the way the UI
does: a background thread waits for the HITL row of the `approve` task in the same metadata DB
and calls Airflow's own endpoint function (`update_hitl_detail` of the public REST API, with a
SimpleAuthManager user) on a DB session, which stores the response and resumes the task. No
Airflow internals are patched.
"""

from __future__ import annotations

import json
import shutil
import stat
import threading
from datetime import date
from types import SimpleNamespace

import pytest

from backstop.tfstate.common import RestoreRefusedError
from backstop.tfstate.restore import plan_restore, write_restore
from tests.approvals import approve_when_asked
from tests.dag_loading import load_dag
from tests.tfstate.conftest import PROJECT

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="the terraform CLI (1.5+) is not on PATH; install it to run the Terraform state tests",
)

LOG = SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None)


def test_restore_to_backend_after_approval_is_byte_identical(
    airflow_db, tf_world, slack, tmp_path, monkeypatch
):
    original = tf_world.apply("default")
    tf_world.backup("default", date(2026, 11, 20))
    tf_world.s3.delete_object(Bucket="triflow-terraform-state", Key=tf_world.backend_key())  # state lost

    dag = load_dag("terraform_state_restore.py", "terraform_state_restore", None, tmp_path, monkeypatch)
    done, answers = threading.Event(), []
    approver = threading.Thread(target=approve_when_asked, args=(dag.dag_id, done, answers), daemon=True)
    approver.start()
    try:
        dag_run = dag.test(
            run_conf={
                "project": PROJECT,
                "workspace": "default",
                "date": "2026-11-20",
                "destination": "backend",
            }
        )
    finally:
        done.set()
        approver.join(timeout=5)

    from airflow.utils.session import create_session

    with create_session() as session:
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances(session=session)}
    assert dag_run.state == "success", states
    assert states == {
        "plan": "success",
        "route": "success",
        "approve": "success",
        "write_backend": "success",
        "write_local": "skipped",
    }
    approved = [body for choice, body in answers if choice == "Approve"]
    assert len(approved) == 1 and "The backend holds no state now" in approved[0], answers
    assert tf_world.backend_bytes() == original  # byte-identical
    assert slack.messages() == []


def test_restore_to_a_local_path_is_byte_identical_and_private(tf_world, tmp_path):
    original = tf_world.apply("default")
    tf_world.backup("default", date(2026, 11, 20))
    tf_world.apply("default", release="v2")
    tf_world.backup("default", date(2026, 11, 21))

    target = tmp_path / "inspect" / "terraform.tfstate"  # absolute, inside the restore root
    request = tf_world.restore_request(date="2026-11-20", local_path=str(target))
    result = write_restore(
        tf_world.s3, tf_world.s3, tf_world.vault, request, run_id="t", log=LOG, restore_root=tmp_path
    )
    assert target.read_bytes() == original
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert result["byte_identical"] and result["serial"] == json.loads(original)["serial"]
    assert "password" not in json.dumps(result)

    latest = plan_restore(tf_world.s3, tf_world.s3, tf_world.vault, tf_world.restore_request(), log=LOG)
    assert latest["manifest"]["serial"] == json.loads(tf_world.backend_bytes())["serial"]


def test_restore_over_a_newer_serial_is_refused_without_force(tf_world):
    old = tf_world.apply("default")
    tf_world.backup("default", date(2026, 11, 20))
    newer = tf_world.apply("default", release="v2")  # backend now newer than the backup

    request = tf_world.restore_request(destination="backend", date="2026-11-20")
    with pytest.raises(RestoreRefusedError, match="newer than the backup's"):
        plan_restore(tf_world.s3, tf_world.s3, tf_world.vault, request, log=LOG)
    with pytest.raises(RestoreRefusedError):
        write_restore(tf_world.s3, tf_world.s3, tf_world.vault, request, run_id="t", log=LOG)
    assert tf_world.backend_bytes() == newer  # untouched

    forced = write_restore(
        tf_world.s3, tf_world.s3, tf_world.vault, {**request, "force": True}, run_id="t", log=LOG
    )
    assert forced["byte_identical"] and tf_world.backend_bytes() == old


def test_restore_of_a_missing_date_says_which_dates_exist(tf_world):
    from backstop.tfstate.vault import VaultError

    tf_world.apply("default")
    tf_world.backup("default", date(2026, 11, 20))
    with pytest.raises(VaultError, match="20261120"):
        plan_restore(
            tf_world.s3, tf_world.s3, tf_world.vault, tf_world.restore_request(date="2026-01-01"), log=LOG
        )
