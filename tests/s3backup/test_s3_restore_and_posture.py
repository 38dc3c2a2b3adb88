"""S3 prefix restore from versions, posture and the dated backup copy, against moto over HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException

from backstop.s3backup.backup_copy import S3BackupCopyOperator
from backstop.s3backup.posture import S3PostureOperator
from backstop.s3backup.restore import RestoreInputError, S3RestoreApplyOperator, S3RestorePlanOperator
from include.local.fleet_datastores import FILES_BACKUP_BUCKET, FILES_BUCKET

REGION = "ap-northeast-2"
REPORTS = "triflow-backstop-reports"


@pytest.fixture
def s3(fleet, local_stack):
    return boto3.client("s3", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)


def _context(
    run_id: str = "manual__restore", when: datetime | None = None, approver: str | None = None
) -> dict:
    approval = {"responded_by_user": {"id": "sre", "name": approver}} if approver else None
    return {
        "logical_date": when,
        "run_id": run_id,
        "dag_run": SimpleNamespace(run_type="manual", run_after=when or datetime.now(UTC)),
        "params": {},
        "ti": SimpleNamespace(xcom_pull=lambda task_ids: approval),
    }


def _plan(prefix: str, point_in_time: str, bucket: str = FILES_BUCKET) -> dict:
    return S3RestorePlanOperator(
        task_id="plan",
        bucket=bucket,
        prefix=prefix,
        point_in_time=point_in_time,
        buckets={FILES_BUCKET: REGION},
        report_bucket=REPORTS,
        region_name=REGION,
    ).execute(_context())


def _body(s3, key: str, bucket: str = FILES_BUCKET) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _tick() -> str:
    """A point in time strictly between writes (S3 LastModified has one-second resolution)."""
    time.sleep(1.1)
    mark = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(1.1)
    return mark


def test_prefix_restore_brings_back_a_deleted_and_an_overwritten_object_and_nothing_else(s3):
    prefix = "uploads/"
    s3.put_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-003.json", Body=b"wf-003 v1")
    s3.put_object(Bucket=FILES_BUCKET, Key="frontend/app.js", Body=b"app v1")  # outside the prefix
    before = {k: _body(s3, k) for k in ("uploads/workflows/wf-001.json", "uploads/workflows/wf-002.json")}
    point = _tick()
    # The incident: one object deleted, one overwritten, one created; outside the prefix, one deleted.
    s3.delete_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-001.json")
    s3.put_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-002.json", Body=b"corrupted")
    s3.put_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-004.json", Body=b"made after")
    s3.delete_object(Bucket=FILES_BUCKET, Key="frontend/app.js")

    plan = _plan(prefix, point)
    assert plan["counts"] == {"restore": 2, "unchanged": 2, "newer-kept": 1, "absent": 0}
    assert sorted(r["key"] for r in plan["restores"]) == [
        "uploads/workflows/wf-001.json",
        "uploads/workflows/wf-002.json",
    ]
    listing = s3.get_object(Bucket=REPORTS, Key=plan["listing"].split("/", 3)[3])["Body"].read()
    assert b"newer-kept" in listing
    # the dry-run listing wrote nothing in the bucket
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-001.json")

    done = S3RestoreApplyOperator(
        task_id="apply", plan=plan, report_bucket=REPORTS, region_name=REGION
    ).execute(_context(approver="sre-oncall"))

    assert sorted(done["restored"]) == sorted(before)
    for key, body in before.items():
        assert _body(s3, key) == body
    assert _body(s3, "uploads/workflows/wf-004.json") == b"made after"  # newer object left alone
    assert _body(s3, "uploads/workflows/wf-003.json") == b"wf-003 v1"
    with pytest.raises(s3.exceptions.NoSuchKey):  # outside the prefix: not restored
        s3.get_object(Bucket=FILES_BUCKET, Key="frontend/app.js")
    audit = json.loads(s3.get_object(Bucket=REPORTS, Key=done["audit"].split("/", 3)[3])["Body"].read())
    assert audit["approved_by"]["name"] == "sre-oncall"
    assert {r["outcome"] for r in audit["results"]} == {"restored"}
    versions = s3.list_object_versions(Bucket=FILES_BUCKET, Prefix="uploads/workflows/wf-002.json")[
        "Versions"
    ]
    assert any(_body_of_version(s3, v) == b"corrupted" for v in versions)  # nothing deleted from history


def _body_of_version(s3, version) -> bytes:
    return s3.get_object(Bucket=FILES_BUCKET, Key=version["Key"], VersionId=version["VersionId"])[
        "Body"
    ].read()


def test_a_key_changed_after_approval_is_not_overwritten(s3):
    point = _tick()
    s3.delete_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-001.json")
    plan = _plan("uploads/workflows/", point)
    s3.put_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-001.json", Body=b"rewritten by the app")

    with pytest.raises(AirflowFailException, match="changed since the plan"):
        S3RestoreApplyOperator(task_id="apply", plan=plan, report_bucket=REPORTS, region_name=REGION).execute(
            _context()
        )
    assert _body(s3, "uploads/workflows/wf-001.json") == b"rewritten by the app"


@pytest.mark.parametrize(
    ("field", "kwargs", "message"),
    [
        (
            "bucket",
            {"bucket": "someone-elses-bucket"},
            "bucket: 'someone-elses-bucket' is not a protected bucket",
        ),
        ("prefix", {"prefix": "/uploads"}, "prefix: '/uploads' is not a key prefix"),
        ("prefix", {"prefix": ""}, "prefix: '' is not a key prefix"),
        ("point_in_time", {"point_in_time": "yesterday"}, "point_in_time: 'yesterday' is not a date-time"),
        ("point_in_time", {"point_in_time": "2026-11-22T01:30:00"}, "has no time zone"),
        ("point_in_time", {"point_in_time": "2999-01-01T00:00:00Z"}, "is in the future"),
    ],
)
def test_bad_form_input_names_the_field_and_writes_nothing(s3, field, kwargs, message):
    args = {"prefix": "uploads/", "point_in_time": "2026-11-22T00:00:00Z"} | kwargs
    reports_before = s3.list_objects_v2(Bucket=REPORTS).get("KeyCount", 0)
    with pytest.raises(RestoreInputError, match=message):
        _plan(**args)
    assert s3.list_objects_v2(Bucket=REPORTS).get("KeyCount", 0) == reports_before


def _posture(**expect) -> S3PostureOperator:
    bucket = {
        "bucket": FILES_BUCKET,
        "region": REGION,
        "replication_destination": None,
        "object_lock": False,
        "recovery_window_days": 30,
        "backup_copy": None,
    } | expect
    return S3PostureOperator(task_id="posture", buckets=[bucket], region_name=REGION)


def test_posture_alerts_when_versioning_is_suspended(s3):
    assert _posture().execute(_context())["problems"] == []

    s3.put_bucket_versioning(Bucket=FILES_BUCKET, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(AirflowFailException, match="versioning is Suspended, expected Enabled"):
        _posture().execute(_context())


def test_posture_alerts_on_missing_replication_object_lock_and_a_short_noncurrent_lifecycle(s3):
    s3.put_bucket_lifecycle_configuration(
        Bucket=FILES_BUCKET,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "trim-old-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                }
            ]
        },
    )
    with pytest.raises(AirflowFailException) as failed:
        _posture(replication_destination="triflow-ai-files-dr", object_lock=True).execute(_context())
    message = str(failed.value)
    assert "no enabled replication rule to triflow-ai-files-dr" in message
    assert "Object Lock is not enabled" in message
    assert "'trim-old-versions' expires noncurrent versions after 7 days" in message


def _backup(day: datetime) -> dict:
    return S3BackupCopyOperator(
        task_id="backup_copy",
        bucket=FILES_BUCKET,
        backup_bucket=FILES_BACKUP_BUCKET,
        prefix="backups",
        timezone="Asia/Seoul",
        region_name=REGION,
    ).execute(_context(run_id=f"scheduled__{day:%Y%m%d}", when=day))


def test_backup_copy_is_incremental_and_verified(s3):
    first = _backup(datetime(2026, 11, 20, 17, 0, tzinfo=UTC))  # 2026-11-21 02:00 KST
    source_count = s3.list_objects_v2(Bucket=FILES_BUCKET)["KeyCount"]
    assert first["count"] == source_count == len(first["copied"]) and first["incremental_since"] is None

    s3.put_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-002.json", Body=b"v2")
    s3.put_object(Bucket=FILES_BUCKET, Key="uploads/new.txt", Body=b"new")
    second = _backup(datetime(2026, 11, 21, 17, 0, tzinfo=UTC))

    assert sorted(second["copied"]) == ["uploads/new.txt", "uploads/workflows/wf-002.json"]
    assert second["count"] == source_count + 1 and second["incremental_since"] == "20261121"
    assert _body(s3, "backups/20261122/uploads/workflows/wf-002.json", FILES_BACKUP_BUCKET) == b"v2"
    manifest = json.loads(_body(s3, "backups/manifests/20261122.json", FILES_BACKUP_BUCKET))
    stored = {e["key"]: e["stored_at"] for e in manifest["objects"]}
    assert (
        stored["frontend/index.html"] == "backups/20261121/frontend/index.html"
    )  # unchanged: not copied again
    for entry in manifest["objects"]:
        assert entry["sha256"] and _body(s3, entry["stored_at"], FILES_BACKUP_BUCKET) == _body(
            s3, entry["key"]
        )

    again = _backup(datetime(2026, 11, 21, 17, 0, tzinfo=UTC))  # re-run of the same day
    assert again["copied"] == [] and again["count"] == second["count"]
