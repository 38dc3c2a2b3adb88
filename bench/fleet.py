"""Retention at fleet scale: 200 instances, 20,000 managed snapshots over two regions (moto).

Prints: seeding time; planning time for 20,000 snapshots (pure planner, median of 5; target
under 1 s); AWS calls per operation kind for one retention_prune run (target: describe pages
plus deletions, no call per snapshot for tags); and the wall time of that run (its two tasks,
plan_retention and apply_retention, executed directly against the moto server, without
dag.test()'s fixed start-up; apply deletes from its default pool of 8). Last line: the planning
figure. bench/retention.py has the figures at 100k and 1M and the pool's speed-up.

Env: BENCH_INSTANCES (default 200), BENCH_SNAPSHOTS_PER_INSTANCE (default 100).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Task logs (a 20,000-row plan table, a line per deletion) are for Airflow, not this output.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

INSTANCES = int(os.environ.get("BENCH_INSTANCES", "200"))
PER_INSTANCE = int(os.environ.get("BENCH_SNAPSHOTS_PER_INSTANCE", "100"))
REGIONS = ["ap-northeast-2", "ap-northeast-1"]
TAGS = [
    {"Key": "backstop:managed", "Value": "true"},
    {"Key": "backstop:policy", "Value": "bench"},
    {"Key": "backstop:tier", "Value": "weekly"},
]
RULES = {
    "bench": {
        "keep": [
            {"period": "weekly", "count": 5, "max_age": 30 * 86400},
            {"period": "monthly", "count": 12, "max_age": None},
            {"period": "yearly", "count": 7, "max_age": None},
        ],
        "min_keep": 2,
        "max_staleness": 8 * 86400,
        "timezone": "Asia/Seoul",
    }
}


def _client(endpoint: str, region: str):
    import boto3

    return boto3.client(
        "rds",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def seed(endpoint: str) -> None:
    def make_instance(args):
        region, i = args
        _client(endpoint, region).create_db_instance(
            DBInstanceIdentifier=f"bench-db-{i:03d}",
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="bench",
            MasterUserPassword="bench-password-1",
            BackupRetentionPeriod=0,
        )

    def make_snapshots(args):
        region, i = args
        client = _client(endpoint, region)
        for n in range(PER_INSTANCE):
            client.create_db_snapshot(
                DBInstanceIdentifier=f"bench-db-{i:03d}",
                DBSnapshotIdentifier=f"bench-db-{i:03d}-s{n:03d}",
                Tags=TAGS,
            )

    half = INSTANCES // len(REGIONS)
    jobs = [(region, i) for region in REGIONS for i in range(half)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make_instance, jobs))
        list(pool.map(make_snapshots, jobs))


def main() -> None:
    from include.local.stack import LocalStack

    # moto enforces its own manual-snapshot quota (default 1000 per region); lift it for the bench.
    os.environ["MOTO_RDS_SNAPSHOT_LIMIT"] = str(INSTANCES * PER_INSTANCE * 2)
    stack = LocalStack(ROOT / ".local" / "bench" / "stack.json")
    stack.start()
    os.environ.update(stack.env())
    try:
        run(stack)
    finally:
        stack.stop()


def run(stack) -> None:
    from include.local.fleet import REPORT_BUCKET, seed_fleet

    seed_fleet(stack.aws_endpoint_url)  # report bucket and the rest of the account
    started = time.perf_counter()
    seed(stack.aws_endpoint_url)
    total = INSTANCES // len(REGIONS) * len(REGIONS) * PER_INSTANCE
    print(
        f"seeded {INSTANCES} instances and {total} managed snapshots in {time.perf_counter() - started:.1f} s"
    )

    from backstop.retention.operators import RetentionApplyOperator, RetentionPlanOperator, rules_from_dict
    from backstop.retention.planner import plan_retention

    plan_op = RetentionPlanOperator(
        task_id="plan_retention",
        region_name=REGIONS[0],
        regions=REGIONS,
        rules=RULES,
        report_bucket=REPORT_BUCKET,
        alert_channel="#bench",
    )
    calls: Counter[str] = Counter()
    for region in REGIONS:
        plan_op.client(region).meta.events.register(
            "before-call.rds", lambda model, **_: calls.update([model.name])
        )

    records = plan_op.inventory()
    rules = {k: rules_from_dict(v) for k, v in RULES.items()}
    now = datetime.now(UTC) + timedelta(days=1)
    timings = []
    for _ in range(5):
        t = time.perf_counter()
        plan = plan_retention(records, rules, now)
        timings.append(time.perf_counter() - t)
    managed = sum(1 for r in records if r.managed)
    print(f"inventory: {len(records)} snapshots ({managed} managed); plan deletes {len(plan.deletions)}")
    calls.clear()

    context = {"logical_date": now, "run_id": "bench", "params": {"dry_run": False}, "dag_run": None}
    t = time.perf_counter()
    result = plan_op.execute(context)
    apply_op = RetentionApplyOperator(task_id="apply_retention", region_name=REGIONS[0], plan=result)
    for region in REGIONS:
        apply_op.client(region).meta.events.register(
            "before-call.rds", lambda model, **_: calls.update([model.name])
        )
    applied = apply_op.execute(context)
    wall = time.perf_counter() - t
    print(
        f"retention_prune run: {wall:.1f} s wall; deleted {applied['counts']['deleted']},"
        f" kept {result['counts']['keep']}; plan XCom {len(json.dumps(result))} bytes"
    )
    print("AWS calls by operation:")
    for name, count in sorted(calls.items()):
        print(f"  {name:32} {count}")
    pages = calls["DescribeDBSnapshots"] + calls["DescribeDBClusterSnapshots"]
    print(
        f"calls = describe pages {pages} + deletions {calls['DeleteDBSnapshot']}"
        f" + other {sum(calls.values()) - pages - calls['DeleteDBSnapshot']}"
        f"; per-snapshot tag calls: {calls['ListTagsForResource']}"
    )
    print(f"planning {len(records)} snapshots: {statistics.median(timings):.2f} s (target < 1 s)")


if __name__ == "__main__":
    main()
