"""The plan task's pointer XCom and the apply task reading its deletions from the report (moto).

The apply task deletes from a thread pool: these tests pin that it makes the same AWS calls as
one-at-a-time, that one failed delete does not stop the others and is named when the task
fails, and that it never deletes from a report other than the one the plan wrote.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.awsrequest import AWSResponse

from backstop.policy import load_policy
from backstop.policy.views import retention_rules
from backstop.retention.operators import RetentionApplyOperator, RetentionPlanOperator
from tests.retention.reports import BUCKET, MANAGED, PROD, deleting, report_plan, s3_client
from tests.throttling import throttle

REGIONS = ["ap-northeast-2", "ap-northeast-1"]
XCOM_LIMIT = 64 * 1024


def seed(rds, count: int, prefix: str = f"{PROD}-weekly-s") -> list[str]:
    """`count` managed snapshots of the production database, oldest first."""
    names = [f"{prefix}{i:03d}" for i in range(count)]
    for name in names:
        rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier=name, Tags=MANAGED)
    return names


def manual(rds) -> set[str]:
    pages = rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual")
    return {s["DBSnapshotIdentifier"] for page in pages for s in page["DBSnapshots"]}


def plan_now(dry_run: bool = False) -> dict:
    """Run the plan task a day ahead (so the seeded snapshots are a day old); returns its XCom."""
    op = RetentionPlanOperator(
        task_id="plan_retention",
        region_name="ap-northeast-2",
        regions=REGIONS,
        rules=retention_rules(load_policy()),
        report_bucket=BUCKET,
        alert_channel="#triflow-alerts",
    )
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    params = {"dry_run": True} if dry_run else {"dry_run": False, "confirm_delete": "DELETE"}
    context = {"run_id": "t", "params": params, "logical_date": tomorrow, "dag_run": None}
    return op.execute(context)


def count_calls(op: RetentionApplyOperator, regions=REGIONS) -> Counter[str]:
    """AWS API calls (not HTTP attempts: retries are botocore's) made through the operator's clients."""
    calls: Counter[str] = Counter()
    for region in regions:
        op.client(region).meta.events.register(
            "before-call.rds", lambda model, **_: calls.update([model.name])
        )
    return calls


def test_the_plan_returns_a_small_pointer_and_apply_deletes_what_the_report_says(fleet, rds, local_stack):
    names = seed(rds, 40)

    xcom = plan_now()

    assert "deletions" not in xcom and len(json.dumps(xcom)) < XCOM_LIMIT
    assert xcom["counts"]["delete"] == 38  # the weekly/monthly/yearly newest, and min_keep 2
    assert xcom["report"].startswith(f"s3://{BUCKET}/reports/retention/")
    report = json.loads(
        s3_client(local_stack).get_object(Bucket=BUCKET, Key=xcom["report"].split("/", 3)[3])["Body"].read()
    )
    planned = [d["snapshot_id"] for d in report["decisions"] if d["action"] == "delete"]
    assert sorted(planned) == names[:38]

    op = RetentionApplyOperator(task_id="apply", region_name="ap-northeast-2", plan=xcom, max_workers=4)
    calls = count_calls(op)
    result = op.execute({"run_id": "t"})

    assert result["counts"] == {"planned": 38, "deleted": 38, "already_gone": 0, "skipped": 0, "failed": 0}
    assert result["deleted"] == planned  # in plan order, whatever order the threads finished in
    assert manual(rds) == set(names[38:])
    # one listing per region and kind that has deletions, then one call per deletion
    assert calls == Counter({"DescribeDBSnapshots": 1, "DeleteDBSnapshot": 38})
    assert len(json.dumps(result)) < XCOM_LIMIT


def test_a_dry_run_apply_reads_a_sample_and_deletes_nothing(fleet, rds):
    names = seed(rds, 6)
    xcom = plan_now(dry_run=True)
    op = RetentionApplyOperator(task_id="apply", region_name="ap-northeast-2", plan=xcom)
    calls = count_calls(op)

    result = op.execute({"run_id": "t"})

    assert result["dry_run"] is True and result["counts"] == {"would_delete": 4}
    assert [d["snapshot_id"] for d in result["would_delete"]] == names[3::-1]  # newest first
    assert calls == Counter() and manual(rds) >= set(names)


def _run(local_stack, rds, workers: int, throttled: int = 0) -> tuple[Counter[str], dict, list[str]]:
    names = seed(rds, 30, prefix=f"w{workers}-")
    op = RetentionApplyOperator(
        task_id="apply", plan=report_plan(local_stack, deleting(names), key=f"reports/retention/test/{workers}.json"),
        max_workers=workers,
    )  # fmt: skip
    calls = count_calls(op, ["ap-northeast-2"])
    outcomes = throttle(op.client("ap-northeast-2"), "DeleteDBSnapshot", times=throttled)
    result = op.execute({"run_id": "t"})
    return calls, result, outcomes


def test_the_pool_makes_exactly_the_calls_one_at_a_time_makes(fleet, rds, local_stack):
    sequential, one_by_one, _ = _run(local_stack, rds, workers=1)
    pooled, pool, outcomes = _run(local_stack, rds, workers=8, throttled=5)

    assert pooled == sequential == Counter({"DescribeDBSnapshots": 1, "DeleteDBSnapshot": 30})
    assert outcomes.count("sent") == 30  # throttled calls retried by botocore: each deleted once
    assert one_by_one["counts"] == pool["counts"] == {
        "planned": 30, "deleted": 30, "already_gone": 0, "skipped": 0, "failed": 0,
    }  # fmt: skip
    assert manual(rds) == set()


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


def refuse_delete(client, snapshot_id: str) -> None:
    """RDS answers DeleteDBSnapshot of this one snapshot with InvalidDBSnapshotState (not retried)."""
    xml = (
        b'<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>'
        b"<Code>InvalidDBSnapshotState</Code><Message>Cannot delete the snapshot while it is in use"
        b"</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )

    def handler(request, **_):
        body = urllib.parse.parse_qs(
            request.body.decode() if isinstance(request.body, bytes) else request.body
        )
        if body.get("DBSnapshotIdentifier") == [snapshot_id]:
            return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _Raw(xml))
        return None

    client.meta.events.register("before-send.rds.DeleteDBSnapshot", handler)


def test_one_failed_delete_among_many_fails_the_task_after_the_rest_are_done(fleet, rds, local_stack):
    names = seed(rds, 30)
    victim = names[7]
    op = RetentionApplyOperator(
        task_id="apply", plan=report_plan(local_stack, deleting([*names, "gone"])), max_workers=8
    )
    refuse_delete(op.client("ap-northeast-2"), victim)

    with pytest.raises(AirflowException) as raised:
        op.execute({"run_id": "t"})

    message = str(raised.value)
    assert not isinstance(raised.value, AirflowFailException)  # a retry may succeed: it is allowed
    assert "1 deletion(s) failed (InvalidDBSnapshotState x1)" in message
    assert f"{victim} (ap-northeast-2): InvalidDBSnapshotState" in message
    assert manual(rds) == {victim}  # every other snapshot was still deleted


def test_apply_refuses_a_report_that_is_not_the_one_the_plan_wrote(fleet, rds, local_stack):
    names = seed(rds, 4)
    xcom = report_plan(local_stack, deleting(names[:2]))
    report_plan(local_stack, deleting(names))  # same key, rewritten: another ETag
    op = RetentionApplyOperator(task_id="apply", plan={**xcom, "report_version": None})

    with pytest.raises(AirflowFailException, match="changed after the plan task wrote it"):
        op.execute({"run_id": "t"})
    assert manual(rds) == set(names)


def test_apply_stops_before_deleting_more_than_the_plan_counted(fleet, rds, local_stack):
    names = seed(rds, 4)
    xcom = report_plan(local_stack, deleting(names))
    xcom["counts"]["delete"] = 2

    with pytest.raises(AirflowFailException, match="lists more than the 2 deletion"):
        RetentionApplyOperator(task_id="apply", plan=xcom).execute({"run_id": "t"})
    assert manual(rds) == set(names)


@pytest.mark.parametrize("workers", [0, 11, True, 2.5])
def test_max_workers_is_bounded_by_the_connection_pool(workers):
    with pytest.raises(ValueError, match="max_workers must be a whole number from 1 to 10"):
        RetentionApplyOperator(task_id="apply", plan={}, max_workers=workers)
    assert (
        RetentionApplyOperator(
            task_id="apply", plan={}, max_workers=16, botocore_config={"max_pool_connections": 16}
        ).max_workers
        == 16
    )


class _Stop(BaseException):
    """What Airflow raises in a task it stops (a timeout, SIGTERM): not an Exception."""


def test_a_stopped_task_starts_no_more_deletes(fleet, rds, local_stack, monkeypatch):
    import backstop.retention.operators as operators

    names = seed(rds, 30)
    real = operators.delete_snapshot

    def stopped_at_the_first(client, db_type, snapshot_id):
        if snapshot_id == names[0]:
            raise _Stop()
        return real(client, db_type, snapshot_id)

    monkeypatch.setattr(operators, "delete_snapshot", stopped_at_the_first)
    op = RetentionApplyOperator(
        task_id="apply", plan=report_plan(local_stack, deleting(names)), max_workers=2
    )

    with pytest.raises(_Stop):
        op.execute({"run_id": "t"})
    assert len(manual(rds)) > 20  # the few in flight may finish; the queued rest never start


def test_an_old_plan_is_refused_and_nothing_is_deleted(fleet, rds, local_stack):
    """Issue "Trust" 7: clearing apply_retention of a past run deleted by that run's plan, made
    before newer snapshots, copies and drills changed what must be kept. A plan older than
    MAX_PLAN_AGE is refused; plan and apply must run again together."""
    from datetime import UTC, datetime, timedelta

    names = seed(rds, 4)
    xcom = report_plan(local_stack, deleting(names[:2]))
    stale = {**xcom, "planned_at": (datetime.now(UTC) - timedelta(days=2)).isoformat()}

    with pytest.raises(AirflowFailException, match="plan_retention and apply_retention together"):
        RetentionApplyOperator(task_id="apply", plan=stale).execute({"run_id": "t"})
    assert manual(rds) == set(names)
