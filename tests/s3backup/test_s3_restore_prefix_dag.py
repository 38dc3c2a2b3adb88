"""`dag.test()` of s3_restore_prefix: form -> dry-run listing -> approval in the UI -> restore -> audit."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import boto3

from include.local.fleet_datastores import FILES_BUCKET
from tests.approvals import approve_when_asked
from tests.dag_loading import load_dag, shipped_policy, task_states

REGION = "ap-northeast-2"


def test_a_deleted_object_comes_back_after_approval(airflow_db, fleet, local_stack, tmp_path, monkeypatch):
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=local_stack.aws_endpoint_url)
    time.sleep(1.1)
    point = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)
    s3.delete_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-002.json")  # scenario 5

    dag = load_dag("s3_restore_prefix.py", "s3_restore_prefix", shipped_policy(), tmp_path, monkeypatch)
    done, answers = threading.Event(), []
    approver = threading.Thread(target=approve_when_asked, args=(dag.dag_id, done, answers), daemon=True)
    approver.start()
    try:
        dag_run = dag.test(
            run_conf={"bucket": FILES_BUCKET, "prefix": "uploads/workflows/", "point_in_time": point}
        )
    finally:
        done.set()
        approver.join(timeout=5)

    states = task_states(dag_run)
    assert dag_run.state == "success", (states, answers)
    assert states["approve"] == "success" and states["apply"] == "success", states
    assert any("wf-002.json" in str(a) for a in answers), answers  # the approver saw what is restored
    body = s3.get_object(Bucket=FILES_BUCKET, Key="uploads/workflows/wf-002.json")["Body"].read()
    assert body == b'{"id": "wf-002", "v": 1}'
    audits = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket="triflow-backstop-reports", Prefix="reports/restores/s3/")[
            "Contents"
        ]
        if not o["Key"].endswith("-plan.json")
    ]
    audit = json.loads(s3.get_object(Bucket="triflow-backstop-reports", Key=audits[0])["Body"].read())
    assert [r["key"] for r in audit["results"]] == ["uploads/workflows/wf-002.json"]
    assert audit["approved_by"]
