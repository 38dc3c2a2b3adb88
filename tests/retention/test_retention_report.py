"""The streamed retention report: layout, multipart upload, reading deletions back, the XCom bound."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from backstop.naming import MANAGED_TAG, POLICY_TAG
from backstop.retention.planner import KeepRule, RetentionRules, SnapshotRecord, plan_retention
from backstop.retention.report import (
    MIN_PART_BYTES,
    REPORT_FORMAT,
    PartWriter,
    ReportError,
    WrittenReport,
    _deletions,
    decision_line,
    plan_xcom,
    read_deletions,
    report_lines,
    write_report,
)
from tests.retention.reports import BUCKET, s3_client

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RULES = {"p": RetentionRules(keep=(KeepRule("daily", count=3),), min_keep=2, max_staleness=timedelta(days=8))}
XCOM_LIMIT = 64 * 1024


def snapshots_of(resources: int, per_resource: int, *, stale_every: int = 0) -> list[SnapshotRecord]:
    """Daily snapshots; every `stale_every`-th resource's newest is 10 days old (pruning halted)."""
    out = []
    for r in range(resources):
        start = 10 if stale_every and r % stale_every == 0 else 0
        for i in range(per_resource):
            name = f"db-{r:05d}-s{i:03d}"
            out.append(
                SnapshotRecord(
                    name,
                    f"arn:aws:rds:us-east-1:1:snapshot:{name}",
                    "instance",
                    f"db-{r:05d}",
                    "us-east-1",
                    NOW - timedelta(days=start + i, hours=1),
                    "available",
                    "manual",
                    {MANAGED_TAG: "true", POLICY_TAG: "p"},
                )  # fmt: skip
            )
    out.append(
        SnapshotRecord("hand", "arn:hand", "instance", "db-00000", "us-east-1", NOW, "available", "manual")
    )
    return out


def report_text(plan) -> str:
    meta = {"dry_run": False, "run_id": "r", "regions": ["us-east-1"]}
    return "".join(report_lines(plan, meta, plan.counts()))


def test_the_report_is_one_json_document_with_the_summary_first_and_a_line_per_decision():
    plan = plan_retention(snapshots_of(3, 6, stale_every=3), RULES, NOW)
    text = report_text(plan)
    document = json.loads(text)
    assert document["format"] == REPORT_FORMAT
    assert (
        document["counts"]
        == plan.counts()
        == {
            "snapshots": 19,
            "keep": 12,
            "delete": 6,
            "ignore": 1,
            "groups": {"pruned": 2, "halted": 1, "refused": 0},
        }
    )
    assert document["decisions"] == plan.to_json()["decisions"]  # what the one-piece JSON had
    assert document["groups"] == plan.to_json()["groups"]
    assert document["halted"] == ["db-00000 (us-east-1): newest snapshot is 10d 1h old (max 8d): "
                                  "backups are failing; pruning stopped"]  # fmt: skip
    lines = text.splitlines()
    assert lines[1] == f'  "format": "{REPORT_FORMAT}",'  # the summary comes first
    assert sum(1 for line in lines if line.lstrip().startswith('{"snapshot_id"')) == 19


def test_each_decision_line_is_exactly_json_dumps_of_the_decision():
    odd = [
        SnapshotRecord("untagged", "arn:u", "cluster", "db-x", "us-east-1", NOW, "available", "manual",
                       {MANAGED_TAG: "true"}),
        SnapshotRecord("정책-1", "arn:k", "instance", "db-y", "us-east-1", NOW - timedelta(seconds=5),
                       "creating", "manual", {MANAGED_TAG: "true", POLICY_TAG: "주간 \"q\"\n"}),
    ]  # fmt: skip
    plan = plan_retention([*snapshots_of(2, 9, stale_every=2), *odd], RULES, NOW + timedelta(seconds=3))
    assert {d.action for d in plan.decisions} == {"keep", "delete", "ignore"}
    for decision in plan.decisions:
        assert decision_line(decision) == json.dumps(decision.to_json())


def test_deletions_are_read_back_in_plan_order():
    plan = plan_retention(snapshots_of(4, 8), RULES, NOW)
    body = io.BytesIO(report_text(plan).encode())
    read = list(_deletions(iter(body.getvalue().split(b"\n")), "s3://b/k"))
    assert [d["snapshot_id"] for d in read] == [d.snapshot.snapshot_id for d in plan.deletions]
    assert read[0] == {
        "region": "us-east-1",
        "db_type": "instance",
        "snapshot_id": "db-00000-s003",
        "resource_id": "db-00000",
        "reason": plan.deletions[0].reason,
    }


def test_a_report_cut_short_or_of_another_format_is_refused():
    plan = plan_retention(snapshots_of(2, 8), RULES, NOW)
    lines = report_text(plan).encode().split(b"\n")
    cut = lines[: len(lines) - 6]  # inside the decisions section
    read = _deletions(iter(cut), "s3://b/k")
    with pytest.raises(ReportError, match="ends inside its decisions section"):
        list(read)
    old_style = json.dumps(plan.to_json(), indent=2).encode().split(b"\n")  # the report before v2
    with pytest.raises(ReportError, match="is not a backstop.retention/2 report"):
        list(_deletions(iter(old_style), "s3://b/k"))


def test_xcom_is_a_pointer_and_counts_whatever_the_size():
    written = WrittenReport("s3://bucket/reports/retention/20261122/run.json", '"etag"', "v1", 10**9, 120)
    sizes = {}
    for resources in (100, 2000):  # 2,000 and 40,000 snapshots; 1 in 4 resources halted (25, 500)
        plan = plan_retention(snapshots_of(resources, 20, stale_every=4), RULES, NOW)
        xcom = plan_xcom(plan, written, dry_run=False)
        assert set(xcom) == {
            "dry_run", "planned_at", "report", "report_etag", "report_version", "report_bytes", "counts", "halted",
            "halted_total",
        }  # fmt: skip
        assert xcom["halted_total"] == len(plan.halted) and len(xcom["halted"]) == min(20, len(plan.halted))
        sizes[resources] = len(json.dumps(xcom))
    assert sizes[2000] < XCOM_LIMIT
    assert sizes[2000] - sizes[100] < 100  # only the digits of the counts grow


def test_a_large_report_goes_up_in_parts_and_comes_back_whole(local_stack, fleet):
    plan = plan_retention(snapshots_of(700, 30), RULES, NOW)  # about 21,000 decisions, over 5 MiB
    s3 = s3_client(local_stack)
    meta = {"dry_run": False, "run_id": "r", "regions": ["us-east-1"]}

    written = write_report(
        s3, BUCKET, "reports/retention/test/big.json", plan, meta, part_bytes=MIN_PART_BYTES
    )

    assert written.parts >= 2 and written.bytes > MIN_PART_BYTES
    body = s3.get_object(Bucket=BUCKET, Key="reports/retention/test/big.json")["Body"].read()
    assert len(body) == written.bytes
    assert json.loads(body)["decisions"] == plan.to_json()["decisions"]
    read = list(read_deletions(s3, written.uri, etag=written.etag, chunk_bytes=64 * 1024))
    assert [d["snapshot_id"] for d in read] == [d.snapshot.snapshot_id for d in plan.deletions]
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_failed_upload_leaves_no_parts_behind(local_stack, fleet):
    s3 = s3_client(local_stack)
    with pytest.raises(RuntimeError, match="planner broke"):
        with PartWriter(s3, BUCKET, "reports/retention/test/broken.json", part_bytes=MIN_PART_BYTES) as out:
            out.write("x" * (MIN_PART_BYTES + 10))  # one part uploaded
            raise RuntimeError("planner broke")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/retention/test/broken")


def test_reading_refuses_an_object_the_plan_did_not_write(local_stack, fleet):
    s3 = s3_client(local_stack)
    plan = plan_retention(snapshots_of(2, 8), RULES, NOW)
    meta = {"dry_run": False, "run_id": "r", "regions": ["us-east-1"]}
    written = write_report(s3, BUCKET, "reports/retention/test/r.json", plan, meta)
    write_report(s3, BUCKET, "reports/retention/test/r.json", plan, {**meta, "run_id": "other"})  # replaced
    with pytest.raises(Exception, match="PreconditionFailed"):
        list(read_deletions(s3, written.uri, etag=written.etag))
