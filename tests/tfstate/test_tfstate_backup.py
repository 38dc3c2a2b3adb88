"""End to end with a real `terraform apply` against the moto server: the backup DAG and its checks.

Key scheme under test: `<prefix>/<project>/<workspace>/<YYYYMMDD>/terraform.tfstate` (+ .sha256,
manifest.json). A second change on the same day writes the same keys again; the vault is
versioned (Object Lock requires it), so the first backup survives as an older locked version
and each manifest names its own state version.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime

import pytest
from botocore.exceptions import ClientError

from tests.dag_loading import load_dag
from tests.tfstate.conftest import BACKEND_BUCKET, PROJECT

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="the terraform CLI (1.5+) is not on PATH; install it to run the Terraform state tests",
)

DAILY_0200_KST = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)  # 2026-11-22 02:00 Asia/Seoul
DAY = "20261122"
PREFIX = f"terraform-state/{PROJECT}"


def _tis(dag_run, task_id):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        out = {}
        for ti in dag_run.get_task_instances(session=session):
            if ti.task_id != task_id:
                continue
            xcom = (
                session.query(XComModel)
                .filter_by(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index)
                .filter_by(key="return_value")
                .first()
            )
            value = xcom.value if xcom else None
            out[ti.rendered_map_index] = (ti.state, json.loads(value) if isinstance(value, str) else value)
        return out


def test_backup_dag_writes_locked_encrypted_backups_and_dr_copies(
    airflow_db, tf_world, slack, tmp_path, monkeypatch, caplog, capsys
):
    secret = "pw-" + "s3cr3t-" * 3
    original = tf_world.apply("default", password=secret)
    tf_world.apply("staging", release="v1-rc", password=secret)
    assert secret.encode() in original  # the state really holds the secret

    dag = load_dag("terraform_state_backup.py", "terraform_state_backup", None, tmp_path, monkeypatch)
    dag_run = dag.test(logical_date=DAILY_0200_KST)

    assert dag_run.state == "success"
    backups = _tis(dag_run, "backup")
    assert set(backups) == {f"{PROJECT}/default", f"{PROJECT}/staging"}
    assert {state for state, _ in backups.values()} == {"success"}
    result = backups[f"{PROJECT}/default"][1]
    assert result["action"] == "created" and result["decision"] == "first"
    key = f"{PREFIX}/default/{DAY}/terraform.tfstate"
    assert result["vault_key"] == f"s3://triflow-backstop-tfstate-vault/{key}"

    s3, vault = tf_world.s3, tf_world.vault["bucket"]
    stored = s3.get_object(Bucket=vault, Key=key)
    assert stored["Body"].read() == original
    assert stored["ServerSideEncryption"] == "aws:kms" and stored["SSEKMSKeyId"] == "alias/triflow-rds"
    assert stored["ObjectLockMode"] == "GOVERNANCE"
    assert (stored["ObjectLockRetainUntilDate"] - datetime.now(UTC)).days in (29, 30)
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=vault, Key=key)["TagSet"]}
    assert tags["backstop:managed"] == "true" and tags["backstop:source"] == f"{PROJECT}/default"
    manifest = json.loads(
        s3.get_object(Bucket=vault, Key=f"{PREFIX}/default/{DAY}/manifest.json")["Body"].read()
    )
    assert manifest["serial"] == json.loads(original)["serial"]
    assert manifest["lineage"] == json.loads(original)["lineage"]
    assert manifest["terraform_version"] == "1.11.4" and manifest["resource_count"] == 3
    assert manifest["source"] == f"s3://{BACKEND_BUCKET}/infrastructure/terraform.tfstate"
    assert manifest["state_version_id"] == stored["VersionId"]
    sha_line = s3.get_object(Bucket=vault, Key=key + ".sha256")["Body"].read().decode()
    assert sha_line.split()[0] == manifest["sha256"] == result["sha256"]

    # Locked: deleting the locked version is denied.
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket=vault, Key=key, VersionId=stored["VersionId"])
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    # Copied to the DR vault with its own key and the same lock.
    dr = tf_world.s3_dr.get_object(Bucket="triflow-backstop-tfstate-vault-dr", Key=key)
    assert dr["Body"].read() == original
    assert dr["SSEKMSKeyId"] == "alias/backstop-dr" and dr["ObjectLockMode"] == "GOVERNANCE"
    assert tf_world.s3_dr.get_object(
        Bucket="triflow-backstop-tfstate-vault-dr", Key=f"{PREFIX}/staging/{DAY}/manifest.json"
    )

    # The secret never left the state: not in XCom, Slack, or the logs.
    assert secret not in json.dumps(backups)
    assert slack.messages() == []
    assert secret not in caplog.text and secret not in "".join(capsys.readouterr())


def test_second_apply_makes_a_new_backup_and_an_unchanged_state_makes_none(tf_world):
    first = tf_world.apply("default")
    tf_world.apply("staging")
    day = date(2026, 11, 22)
    assert tf_world.backup("default", day)["action"] == "created"
    assert tf_world.backup("staging", day)["action"] == "created"
    before = len(tf_world.versions())

    unchanged = tf_world.backup("staging", day)
    assert unchanged["action"] == "unchanged" and unchanged["decision"] == "unchanged"
    assert unchanged["checked_at"] and unchanged["vault_key"].endswith(f"/staging/{DAY}/terraform.tfstate")
    assert len(tf_world.versions()) == before  # nothing written

    second = tf_world.apply("default", release="v2")
    assert json.loads(second)["serial"] > json.loads(first)["serial"]
    result = tf_world.backup("default", day)  # same day: same keys, a new locked version
    assert result["action"] == "created" and result["decision"] == "changed"
    assert len(tf_world.versions()) == before + 3  # state, .sha256, manifest

    from backstop.tfstate import vault as vault_lib

    vault = tf_world.vault["bucket"]
    key = f"{PREFIX}/default/{DAY}/terraform.tfstate"
    versions = [v for v in tf_world.versions() if v["Key"] == key]
    assert len(versions) == 2
    bodies = {
        tf_world.s3.get_object(Bucket=vault, Key=key, VersionId=v["VersionId"])["Body"].read()
        for v in versions
    }
    assert bodies == {first, second}  # the first backup of the day is not lost
    latest = vault_lib.latest_manifest(tf_world.s3, vault, "terraform-state", PROJECT, "default")
    assert latest["serial"] == json.loads(second)["serial"]
    assert vault_lib.read_verified_state(tf_world.s3, latest) == second

    # A later day with no change writes nothing either.
    assert tf_world.backup("default", date(2026, 11, 23))["action"] == "unchanged"
    assert vault_lib.list_workspaces(tf_world.s3, vault, "terraform-state", PROJECT) == ["default", "staging"]


def test_rollback_and_swapped_state_fail_their_tasks_with_one_alert_each(
    airflow_db, tf_world, slack, tmp_path, monkeypatch
):
    old = tf_world.apply("default", password="pw-rollback-secret")
    tf_world.apply("staging", password="pw-rollback-secret")
    day = date(2026, 11, 21)
    tf_world.backup("default", day)
    tf_world.backup("staging", day)
    tf_world.apply("default", release="v2", password="pw-rollback-secret")
    tf_world.backup("default", day)
    versions_before = len(tf_world.versions())

    tf_world.put_backend(old, "default")  # someone pushed yesterday's state back: lower serial
    other = json.loads(tf_world.backend_bytes("staging"))
    other["lineage"] = "00000000-1111-2222-3333-444444444444"  # another state put in its place
    tf_world.put_backend(json.dumps(other).encode(), "staging")

    dag = load_dag("terraform_state_backup.py", "terraform_state_backup", None, tmp_path, monkeypatch)
    dag_run = dag.test(logical_date=DAILY_0200_KST)

    assert dag_run.state == "failed"
    states = {label: state for label, (state, _) in _tis(dag_run, "backup").items()}
    assert states == {f"{PROJECT}/default": "failed", f"{PROJECT}/staging": "failed"}
    assert len(tf_world.versions()) == versions_before  # nothing written for a suspicious state

    messages = slack.messages()
    assert len(messages) == 2, messages  # one per workspace: no second, separate alert
    texts = sorted(m["text"] for m in messages)
    assert "StateRollbackError: state rollback: serial 1 is lower than the previous backup's 2" in texts[0]
    assert f"{PROJECT}/default" in texts[0]
    assert (
        "StateSwappedError: state swapped: lineage 00000000-1111" in texts[1]
        and f"{PROJECT}/staging" in texts[1]
    )
    assert all(m["channel"] == "#triflow-alerts" for m in messages)
    assert "pw-rollback-secret" not in json.dumps(messages)
