"""Issue "Trust", Terraform 2 and 4: "unchanged" proves its backup still exists; COMPLIANCE locks.

2. Someone with s3:BypassGovernanceRetention deletes the locked state version the newest
   manifest points to. Before this change the next daily run said "unchanged" (success) and a
   restore then failed with a raw NoSuchVersion. Now "unchanged" first reads the exact version
   and checks its SHA-256; if it is gone (or does not match) the task writes a new backup and
   then fails with one Slack alert naming the missing key and version.
4. COMPLIANCE mode end to end, from the policy to a locked object moto will not let even a
   governance-bypassing caller delete. (No test relies on moto letting a caller shorten a
   retention period: real S3 does not allow it without the bypass permission, or at all for
   COMPLIANCE.)
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from botocore.exceptions import ClientError

from backstop.tfstate.common import BackupMissingError
from tests.dag_loading import load_dag, shipped_policy
from tests.tfstate.conftest import PROJECT, requires_terraform

DAILY_0200_KST = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)  # 2026-11-22 02:00 Asia/Seoul
LOG = type("Log", (), {"info": print, "warning": print, "error": print})()

pytestmark = requires_terraform


def _bypass_delete(client, bucket: str, key: str, version_id: str) -> None:
    client.delete_object(Bucket=bucket, Key=key, VersionId=version_id, BypassGovernanceRetention=True)


def _backup_results(dag_run) -> dict:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            ti.rendered_map_index: (ti.state, ti.try_number)
            for ti in dag_run.get_task_instances(session=session)
            if ti.task_id == "backup"
        }


def test_unchanged_backup_whose_version_was_deleted_alerts_once_and_is_written_again(
    airflow_db, tf_world, slack, tmp_path, monkeypatch
):
    original = tf_world.apply("default", password="pw-gone-secret")
    tf_world.backup("default", date(2026, 11, 21))
    trusted = tf_world.latest_manifest()
    vault = tf_world.vault["bucket"]
    _bypass_delete(tf_world.s3, vault, trusted["state_key"], trusted["state_version_id"])

    dag = load_dag("terraform_state_backup.py", "terraform_state_backup", None, tmp_path, monkeypatch)
    dag_run = dag.test(logical_date=DAILY_0200_KST)

    assert dag_run.state == "failed"
    assert _backup_results(dag_run) == {f"{PROJECT}/default": ("failed", 1)}  # fail fast: no retry
    (message,) = slack.messages()  # one alert, from the normal failure callback
    text = message["text"]
    assert "BackupMissingError" in text and f"({PROJECT}/default)" in text
    assert trusted["state_key"] in text and trusted["state_version_id"] in text and "NoSuchVersion" in text
    assert "wrote a new backup" in text
    assert "pw-gone-secret" not in json.dumps(message)

    # Written before failing: the state is protected again, in both vaults, and restores.
    fresh = tf_world.latest_manifest()
    assert fresh["state_version_id"] != trusted["state_version_id"]
    assert fresh["state_key"].endswith("/20261122/terraform.tfstate")
    from backstop.tfstate.restore import plan_restore
    from backstop.tfstate.vault import read_verified_state

    assert read_verified_state(tf_world.s3, fresh) == original
    dr_fresh = tf_world.latest_manifest(client=tf_world.s3_dr, bucket=tf_world.vault["dr"]["bucket"])
    assert read_verified_state(tf_world.s3_dr, dr_fresh) == original
    request = tf_world.restore_request()
    plan = plan_restore(tf_world.s3, tf_world.s3, tf_world.vault, request, log=LOG, restore_root=tmp_path)
    assert plan["manifest"]["state_version_id"] == fresh["state_version_id"]

    # The next run trusts the new backup: unchanged and green.
    assert tf_world.backup("default", date(2026, 11, 23))["action"] == "unchanged"


def test_a_deleted_dr_copy_is_written_again_and_alerted(tf_world):
    original = tf_world.apply("default")
    tf_world.backup("default", date(2026, 11, 21))
    dr_bucket = tf_world.vault["dr"]["bucket"]
    dr_manifest = tf_world.latest_manifest(client=tf_world.s3_dr, bucket=dr_bucket)
    _bypass_delete(tf_world.s3_dr, dr_bucket, dr_manifest["state_key"], dr_manifest["state_version_id"])
    primary_versions = len(tf_world.versions())

    with pytest.raises(BackupMissingError) as caught:
        tf_world.backup("default", date(2026, 11, 22))
    message = str(caught.value)
    assert dr_bucket in message and dr_manifest["state_version_id"] in message and "DR" in message

    from backstop.tfstate.vault import read_verified_state

    repaired = tf_world.latest_manifest(client=tf_world.s3_dr, bucket=dr_bucket)
    assert read_verified_state(tf_world.s3_dr, repaired) == original
    assert len(tf_world.versions()) == primary_versions  # the primary was fine: nothing written there


def test_a_deleted_checksum_object_also_counts_as_a_missing_backup(tf_world):
    tf_world.apply("default")
    tf_world.backup("default", date(2026, 11, 21))
    trusted = tf_world.latest_manifest()
    sha_key = trusted["state_key"] + ".sha256"
    _bypass_delete(tf_world.s3, tf_world.vault["bucket"], sha_key, trusted["sha256_version_id"])

    with pytest.raises(BackupMissingError, match=rf"{sha_key}.*{trusted['sha256_version_id']}"):
        tf_world.backup("default", date(2026, 11, 22))
    assert tf_world.latest_manifest()["sha256_version_id"] != trusted["sha256_version_id"]


def test_compliance_mode_from_the_policy_locks_both_vaults(tf_world):
    from backstop.policy import parse_policy
    from backstop.tfstate.backup import TerraformStateBackupOperator

    data = shipped_policy()
    data["terraform_state"]["vault"]["object_lock"] = {"mode": "COMPLIANCE", "days": 1}
    tf = parse_policy(data).terraform_state
    original = tf_world.apply("default")
    op = TerraformStateBackupOperator(
        task_id="backup",
        project=PROJECT,
        workspace="default",
        source=tf.projects[0].source.model_dump(),
        vault=tf.vault.model_dump(),
        timezone="Asia/Seoul",
        aws_conn_id="aws_default",
        region_name="ap-northeast-2",
    )
    result = op.execute({"run_id": "scheduled__compliance", "logical_date": DAILY_0200_KST, "params": {}})
    assert result["action"] == "created"

    for client, bucket in (
        (tf_world.s3, tf.vault.bucket),
        (tf_world.s3_dr, tf.vault.dr.bucket),
    ):
        manifest = tf_world.latest_manifest(client=client, bucket=bucket)
        assert manifest["object_lock"]["mode"] == "COMPLIANCE"
        for key, version in (
            (manifest["state_key"], manifest["state_version_id"]),
            (manifest["state_key"] + ".sha256", manifest["sha256_version_id"]),
        ):
            head = client.head_object(Bucket=bucket, Key=key, VersionId=version)
            assert head["ObjectLockMode"] == "COMPLIANCE"
            assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
            # Not even a caller allowed to bypass GOVERNANCE may delete a COMPLIANCE version.
            with pytest.raises(ClientError) as denied:
                _bypass_delete(client, bucket, key, version)
            assert denied.value.response["Error"]["Code"] == "AccessDenied"
            assert client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
        from backstop.tfstate.vault import read_verified_state

        assert read_verified_state(client, manifest) == original
