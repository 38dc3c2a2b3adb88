"""Issue "Trust", Terraform 3: restoring during a regional outage reads the DR vault.

The fault is a real one: every request of the operator's ap-northeast-2 client (the primary
vault's region) is sent by botocore to a TCP port on 127.0.0.1 that is bound but not
listening, so the connection is refused (botocore's EndpointConnectionError after its own
retries), as it would be when the region's S3 endpoint cannot be reached. A hook on the
client's `before-send` event only changes the URL; the request is really sent. A policy
whose primary bucket does not exist would have been easier, but NoSuchBucket is not an
outage (and must never silently send a restore to another vault).
"""

from __future__ import annotations

import socket
from datetime import date
from urllib.parse import urlsplit, urlunsplit

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.dag_loading import load_dag
from tests.tfstate.conftest import PROJECT, requires_terraform
from tests.tfstate.test_restore_confinement import FakeTI, restore_operator

pytestmark = requires_terraform
PRIMARY_REGION = "ap-northeast-2"
FAST_RETRIES = {"retries": {"mode": "standard", "max_attempts": 2}}


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that refuses connections (bound, never listening) for the test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def unreachable(client, port: int) -> list[str]:
    """Send every request of `client` to the closed port; returns the operations attempted."""
    attempted: list[str] = []

    def redirect(request, **kwargs):
        parts = urlsplit(request.url)
        request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))
        attempted.append(kwargs.get("event_name", "").rsplit(".", 1)[-1])

    client.meta.events.register("before-send.s3", redirect)
    return attempted


def counting(client) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-send.s3", lambda **kw: calls.append(kw["event_name"]))
    return calls


def _run(tf_world, root, step, ti, port=None, **params):
    op = restore_operator(tf_world, root, step, botocore_config=FAST_RETRIES)
    attempted = unreachable(op.client(PRIMARY_REGION), port) if port else None
    dr_calls = counting(op.client(tf_world.vault["dr"]["region"]))
    context = {
        "run_id": "manual__outage",
        "ti": ti,
        "params": {"project": PROJECT, "workspace": "default", "date": "latest", **params},
    }
    return op.execute(context), attempted, dr_calls


@pytest.fixture
def backed_up(tf_world):
    original = tf_world.apply("default")
    tf_world.backup("default", date(2026, 11, 20))
    return original


def test_auto_restores_from_the_dr_vault_when_the_primary_region_cannot_be_reached(
    tf_world, backed_up, tmp_path, closed_port, capsys
):
    dr_bucket = tf_world.vault["dr"]["bucket"]
    ti = FakeTI()
    plan, attempted, _ = _run(tf_world, tmp_path / "root", "plan", ti, closed_port, vault="auto")
    assert attempted, "the primary vault was never tried"
    assert plan["vault"] == "dr" and plan["manifest"]["vault_bucket"] == dr_bucket
    assert "DR vault" in ti.pushed["summary"] and dr_bucket in ti.pushed["summary"]
    logged = capsys.readouterr().out  # the operator's log (structlog, to stdout outside a task runner)
    assert "primary vault" in logged and "unreachable" in logged and "EndpointConnectionError" in logged

    result, _, dr_calls = _run(
        tf_world, tmp_path / "root", "write", FakeTI(planned=plan), closed_port, vault="auto"
    )
    assert dr_calls
    assert result["vault"] == "dr" and result["from"].startswith(f"s3://{dr_bucket}/")
    with open(result["target"], "rb") as handle:
        assert handle.read() == backed_up


def test_primary_choice_never_falls_back(tf_world, backed_up, tmp_path, closed_port):
    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(EndpointConnectionError):  # a network error: retried by Airflow, not failed fast
        _run(tf_world, tmp_path / "root", "plan", FakeTI(), closed_port, vault="primary")


def test_dr_choice_reads_the_dr_vault(tf_world, backed_up, tmp_path):
    plan, _, dr_calls = _run(tf_world, tmp_path / "root", "plan", FakeTI(), vault="dr")
    assert plan["vault"] == "dr" and dr_calls
    assert plan["manifest"]["vault_bucket"] == tf_world.vault["dr"]["bucket"]


def test_a_missing_backup_in_the_primary_is_not_an_outage(tf_world, backed_up, tmp_path):
    op = restore_operator(tf_world, tmp_path / "root", "plan", botocore_config=FAST_RETRIES)
    dr_calls = counting(op.client(tf_world.vault["dr"]["region"]))
    params = {"project": PROJECT, "workspace": "default", "date": "2026-01-01", "vault": "auto"}
    with pytest.raises(AirflowFailException, match="no backup of"):
        op.execute({"run_id": "manual__missing", "ti": FakeTI(), "params": params})
    assert dr_calls == []  # a missing backup fails; it never sends the restore to another vault
    plan, _, dr_calls = _run(tf_world, tmp_path / "root", "plan", FakeTI(), vault="auto")
    assert plan["vault"] == "primary" and dr_calls == []


def test_the_write_step_uses_the_vault_and_the_backup_the_plan_showed(tf_world, backed_up, tmp_path):
    plan, _, _ = _run(tf_world, tmp_path / "root", "plan", FakeTI(), vault="dr")
    # Primary reachable again by the time of the write: the write still reads what was shown.
    result, _, dr_calls = _run(tf_world, tmp_path / "root", "write", FakeTI(planned=plan), vault="auto")
    assert result["vault"] == "dr" and dr_calls

    tf_world.apply("default", release="v2")
    tf_world.backup("default", date(2026, 11, 21))  # a newer backup appeared after the approval
    primary_plan, _, _ = _run(tf_world, tmp_path / "root", "plan", FakeTI(), vault="primary")
    stale = {**primary_plan, "manifest": {**primary_plan["manifest"], "sha256": "0" * 64}}
    with pytest.raises(AirflowFailException, match="not the backup the plan showed"):
        _run(tf_world, tmp_path / "root", "write", FakeTI(planned=stale), vault="primary")


def test_a_version_missing_from_the_primary_points_at_the_dr_vault(tf_world, backed_up, tmp_path):
    manifest = tf_world.latest_manifest()
    tf_world.s3.delete_object(
        Bucket=tf_world.vault["bucket"],
        Key=manifest["state_key"],
        VersionId=manifest["state_version_id"],
        BypassGovernanceRetention=True,
    )
    with pytest.raises(AirflowFailException, match="vault=dr") as caught:
        _run(tf_world, tmp_path / "root", "plan", FakeTI(), vault="auto")  # missing: no fallback
    assert manifest["state_version_id"] in str(caught.value)
    plan, _, _ = _run(tf_world, tmp_path / "root", "plan", FakeTI(), vault="dr")
    assert plan["vault"] == "dr"


def test_the_restore_form_offers_the_vault_choice(tmp_path, monkeypatch):
    dag = load_dag("terraform_state_restore.py", "terraform_state_restore", None, tmp_path, monkeypatch)
    param = dag.params.get_param("vault")
    assert param.value == "auto"
    assert param.schema["enum"] == ["auto", "primary", "dr"]
