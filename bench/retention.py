"""Retention at scale: planning time and peak memory, XCom and report size, delete throughput.

Part 1, the planner (no AWS). For each size in BENCH_SIZES (default 20000,100000,1000000) a
fresh Python process builds synthetic `SnapshotInfo` listings the way `list_snapshots` returns
them (fresh strings per snapshot, as parsed from a response; ~100 daily snapshots per database
over two regions; 1% unmanaged, 1% automated, 1% restore-verified, 0.5% not available), turns
them into planner records as the plan task does (one listing at a time), then times
`plan_retention` (wall and CPU) and reads the process's peak RSS (`resource.getrusage`: records
+ plan + interpreter). It also prints the plan task's XCom size and the report's size and
render time (written to a byte-counting stand-in for S3, so the figure is the encoding, not a
network). Targets at 1,000,000: plan < 10 s of CPU (wall time is printed too; on a shared
machine it is CPU time times the contention), peak RSS < 1.5 GB, XCom < 64 KB. "(records)" is
the peak before planning: the listings and records alone.

Part 2, deletes (moto server from include/local/stack.py). BENCH_DELETES (default 2000)
managed snapshots of one database are planned by RetentionPlanOperator (which keeps the
newest 2) and deleted by RetentionApplyOperator, once with max_workers=1 and once with
BENCH_WORKERS (default 8), each against its own database; prints deletes per second, the
ratio (target >= 3x) and the AWS calls each made (they must be equal). moto answers in
microseconds and shares this machine's cores with the client, so its ratio understates what
a pool gains against AWS, where each call waits on the network: BENCH_RTT_MS (default 25)
repeats the comparison with that much latency added to every RDS call (a botocore
`before-send` sleep), labelled as emulated. Figures print whether or not targets are met.

Before this change (main, this synthetic fleet, same shared 2-core machine at load ~6): 1M
planned in 32.6 s CPU (87.6 s wall), peak 1.93 GB; 100k 2.9 s CPU; deletions XCom 5.5 MB at
20k, 276 MB at 1M; the report one json.dumps(indent=2) string (582 MB at 1M as first measured).

`python bench/retention.py [--planner-only | --deletes-only]`; `--plan N` is the child mode.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "20000,100000,1000000").split(",")]
DELETES = int(os.environ.get("BENCH_DELETES", "2000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "8"))
RTT_MS = float(os.environ.get("BENCH_RTT_MS", "25"))
PER_DATABASE = 100
REGIONS = ["ap-northeast-2", "ap-northeast-1"]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RULES = {
    "bench": {
        "keep": [
            {"period": "daily", "count": 7, "max_age": None},
            {"period": "weekly", "count": 5, "max_age": 30 * 86400},
            {"period": "monthly", "count": 12, "max_age": None},
            {"period": "yearly", "count": 7, "max_age": None},
        ],
        "min_keep": 2,
        "max_staleness": 8 * 86400,
        "timezone": "Asia/Seoul",
    }
}
XCOM_TARGET = 64 * 1024
MB = 1024 * 1024


# --- part 1: the planner, one fresh process per size ------------------------------------------


def _fresh(text: str) -> str:
    """A new string object, as a parsed response gives (no sharing with literals)."""
    return (text + " ")[:-1]


def synthetic_listing(region: str, databases: range, total: int, rnd: random.Random) -> list:
    """What list_snapshots(client, "instance") returns for these databases in one region."""
    from backstop.aws.rds_snapshots import SnapshotInfo

    out = []
    for db in databases:
        resource_id = f"bench-db-{db:06d}"
        jitter = timedelta(seconds=rnd.randrange(3600))
        for i in range(min(PER_DATABASE, total - db * PER_DATABASE)):
            name = f"{resource_id}-{i:04d}"
            roll = rnd.random()
            tags = {
                _fresh("backstop:managed"): _fresh("true"),
                _fresh("backstop:policy"): _fresh("bench"),
                _fresh("backstop:tier"): _fresh("daily"),
                _fresh("backstop:run-id"): f"scheduled__{(NOW - timedelta(days=i)):%Y-%m-%d}",
            }
            kind = "manual"
            if roll < 0.01:
                tags = {_fresh("owner"): _fresh("dba")}
            elif roll < 0.02:
                kind, tags = "automated", {}
            elif roll < 0.03:
                tags[_fresh("backstop:restore-verified")] = _fresh("true")
            out.append(
                SnapshotInfo(
                    db_type="instance",
                    snapshot_id=name,
                    source_id=_fresh(resource_id),
                    arn=f"arn:aws:rds:{region}:123456789012:snapshot:{name}",
                    status=_fresh("available" if rnd.random() > 0.005 else "creating"),
                    region=region,
                    tags=tags,
                    created_at=NOW - timedelta(days=i, hours=1) - jitter,
                    encrypted=True,
                    kms_key_id=None,
                    engine=_fresh("postgres"),
                    snapshot_type=_fresh(kind),
                    progress_percent=100,
                )
            )
    return out


class CountingS3:
    """Stands in for the S3 client: counts what write_report uploads, keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0

    def create_multipart_upload(self, **_):
        return {"UploadId": "u"}

    def upload_part(self, Body, PartNumber, **_):  # noqa: N803 (boto3's names)
        self.bytes += len(Body)
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, **_):
        return {"ETag": '"e-1"'}

    def put_object(self, Body, **_):  # noqa: N803
        self.bytes += len(Body)
        return {"ETag": '"e"'}


def plan_child(size: int) -> dict:
    """One size, in this (fresh) process: records, plan, XCom, report. Returns the figures."""
    from backstop.retention.planner import SnapshotRecord, plan_retention, rules_from_dict
    from backstop.retention.report import plan_xcom, write_report

    rnd = random.Random(7)
    databases = -(-size // PER_DATABASE)
    records = []
    for index, region in enumerate(REGIONS):  # one listing at a time, as the plan task does
        listing = synthetic_listing(region, range(index, databases, len(REGIONS)), size, rnd)
        records += [SnapshotRecord.from_info(info, region, "instance", NOW) for info in listing]
        del listing
    rules = {name: rules_from_dict(value) for name, value in RULES.items()}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    wall, cpu = time.perf_counter(), time.process_time()
    plan = plan_retention(records, rules, NOW + timedelta(hours=2))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    sink = CountingS3()
    started = time.perf_counter()
    counts = plan.counts()
    meta = {"dry_run": False, "run_id": "bench", "regions": REGIONS}
    written = write_report(sink, "bucket", "reports/retention/bench.json", plan, meta, counts)
    report_seconds = time.perf_counter() - started
    xcom = plan_xcom(plan, written, dry_run=False, counts=counts)
    return {
        "size": len(records),
        "plan_wall": wall,
        "plan_cpu": cpu,
        "rss_before_plan": base,
        "peak_rss": peak,
        "peak_rss_with_report": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "delete": counts["delete"],
        "xcom_bytes": len(json.dumps(xcom)),
        "report_bytes": sink.bytes,
        "report_parts": written.parts,
        "report_seconds": report_seconds,
    }


def planner_part() -> None:
    print("== planner: synthetic SnapshotInfo listings, one fresh process per size")
    print(
        f"  {'snapshots':>10} {'plan wall':>10} {'plan CPU':>9} {'peak RSS':>9} {'(records)':>10}"
        f" {'deletes':>8} {'XCom':>8} {'report':>9} {'render':>7} {'RSS+report':>11}"
    )
    results = []
    for size in SIZES:
        child = subprocess.run(
            [sys.executable, __file__, "--plan", str(size)], capture_output=True, text=True, check=False
        )
        if child.returncode != 0:
            print(f"  {size:>10,} failed:\n{child.stderr[-2000:]}")
            continue
        r = json.loads(child.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"  {r['size']:>10,} {r['plan_wall']:>8.2f} s {r['plan_cpu']:>7.2f} s"
            f" {r['peak_rss'] / MB:>6.0f} MB {r['rss_before_plan'] / MB:>7.0f} MB {r['delete']:>8,}"
            f" {r['xcom_bytes']:>6,} B {r['report_bytes'] / MB:>6.1f} MB {r['report_seconds']:>5.1f} s"
            f" {r['peak_rss_with_report'] / MB:>8.0f} MB"
        )
    if results:
        big = max(results, key=lambda r: r["size"])
        ok_time = big["plan_cpu"] < 10
        ok_rss = big["peak_rss"] < 1.5 * 1024**3
        ok_xcom = all(r["xcom_bytes"] < XCOM_TARGET for r in results)
        print(
            f"  at {big['size']:,}: plan {big['plan_cpu']:.2f} s CPU (target < 10 s: {'met' if ok_time else 'NOT met'};"
            f" {big['plan_wall']:.2f} s wall at load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs),"
            f" peak {big['peak_rss'] / MB:.0f} MB"
            f" (target < 1536 MB: {'met' if ok_rss else 'NOT met'}); XCom at most"
            f" {max(r['xcom_bytes'] for r in results):,} B (target < 64 KB: {'met' if ok_xcom else 'NOT met'})"
        )


# --- part 2: deletes against the emulator -----------------------------------------------------


def _rds(endpoint: str, region: str = REGIONS[0]):
    import boto3

    return boto3.client(
        "rds",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def seed_database(endpoint: str, database: str, count: int) -> None:
    client = _rds(endpoint)
    client.create_db_instance(
        DBInstanceIdentifier=database,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="bench",
        MasterUserPassword="bench-password-1",
        BackupRetentionPeriod=0,
    )
    tags = [
        {"Key": "backstop:managed", "Value": "true"},
        {"Key": "backstop:policy", "Value": "bench"},
        {"Key": "backstop:tier", "Value": "daily"},
    ]

    def make(n: int) -> None:
        _rds(endpoint).create_db_snapshot(
            DBInstanceIdentifier=database, DBSnapshotIdentifier=f"{database}-{n:05d}", Tags=tags
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(count)))


def delete_run(endpoint: str, database: str, workers: int, rtt_ms: float) -> dict:
    """Seed, plan (the real plan task), then time the apply task alone."""
    from backstop.retention.operators import RetentionApplyOperator, RetentionPlanOperator
    from include.local.fleet import REPORT_BUCKET

    seed_database(endpoint, database, DELETES + 2)
    plan_op = RetentionPlanOperator(
        task_id="plan_retention",
        region_name=REGIONS[0],
        regions=[REGIONS[0]],
        rules=RULES,
        report_bucket=REPORT_BUCKET,
        alert_channel="#bench",
    )
    context = {
        "logical_date": datetime.now(UTC) + timedelta(days=1),
        "run_id": f"bench-{database}",
        "params": {"dry_run": False},
        "dag_run": None,
    }
    plan = plan_op.execute(context)
    apply_op = RetentionApplyOperator(
        task_id="apply_retention", region_name=REGIONS[0], plan=plan, max_workers=workers
    )
    client = apply_op.client(REGIONS[0])
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.rds", lambda model, **_: calls.update([model.name]))
    if rtt_ms:
        client.meta.events.register("before-send.rds", lambda **_: time.sleep(rtt_ms / 1000))
    started = time.perf_counter()
    result = apply_op.execute(context)
    seconds = time.perf_counter() - started
    deleted = result["counts"]["deleted"]
    return {"deleted": deleted, "seconds": seconds, "rate": deleted / seconds, "calls": dict(calls)}


def deletes_part() -> None:
    from include.local.stack import LocalStack

    os.environ["MOTO_RDS_SNAPSHOT_LIMIT"] = str(10 * (DELETES + 2))
    stack = LocalStack(ROOT / ".local" / "bench" / "retention-stack.json")
    stack.start()
    os.environ.update(stack.env())
    try:
        from include.local.fleet import seed_fleet

        seed_fleet(stack.aws_endpoint_url)  # the report bucket and the rest of the account
        print(f"== deletes: {DELETES} planned deletions per run, apply task timed (moto server)")
        for rtt in (0.0, RTT_MS) if RTT_MS else (0.0,):
            label = "moto as is" if not rtt else f"moto + {rtt:g} ms emulated round trip per RDS call"
            runs = {}
            for workers in (1, WORKERS):
                runs[workers] = delete_run(
                    stack.aws_endpoint_url, f"bench-del-{int(rtt)}-{workers}", workers, rtt
                )
                r = runs[workers]
                print(
                    f"  {label:54} workers={workers}: deleted {r['deleted']} in {r['seconds']:.1f} s"
                    f" = {r['rate']:.0f}/s; calls {r['calls']}"
                )
            ratio = runs[WORKERS]["rate"] / runs[1]["rate"]
            same = runs[WORKERS]["calls"] == runs[1]["calls"]
            print(
                f"  {label:54} pool/sequential = {ratio:.1f}x (target >= 3x: {'met' if ratio >= 3 else 'NOT met'});"
                f" same AWS calls: {'yes' if same else 'NO'}"
            )
    finally:
        stack.stop()


def main() -> None:
    if sys.argv[1:2] == ["--plan"]:
        print(json.dumps(plan_child(int(sys.argv[2]))))
        return
    if "--deletes-only" not in sys.argv:
        planner_part()
    if "--planner-only" not in sys.argv:
        deletes_part()


if __name__ == "__main__":
    main()
