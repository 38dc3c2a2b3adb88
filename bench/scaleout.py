"""200 protected databases through the Celery topology: how few worker slots deferrable waits need.

The topology of include/local/celery_topology.py (PostgreSQL metadata DB, Redis broker,
api-server, scheduler, dag-processor, triggerer, two Celery workers), against moto behind the
"creating" proxy (include/local/creating_proxy.py): every new snapshot and copy reports
`creating` for `--creating` seconds, so every wait really defers. The policy is the shipped one
plus one policy with the rest of the `--databases` RDS instances (encrypted, copied to
ap-northeast-1 with its KMS key); the scheduler runs the whole chain as in production:
rds_weekly_snapshot (its latest Sunday 03:00 run, on unpause) -> rds_cross_region_copy (on the
asset) -> retention_prune (its latest daily run, unpaused after the copies).

Prints wall time per DAG and for the chain; peak worker slots used (task instances `running`,
sampled every 0.5 s from the metadata DB; each holds one Celery slot); tasks deferred at peak;
triggerer RSS (the triggerer and its trigger-runner child); the scheduler's loop time (the
`scheduler.scheduler_loop_duration` timer Airflow sends to StatsD, received on a local UDP port).
Copies go through the `rds_copy_ap-northeast-1` pool (20 slots, deferred counted: AWS allows 20
copies in flight per destination region), so they proceed 20 at a time by design.

    .venv/bin/python bench/scaleout.py [--databases 200] [--creating 30] [--concurrency 4]

Targets: worker slots at peak <= 8; the whole chain under 10 minutes. With 2 workers x 4 slots
the peak cannot exceed 8, so the figure that matters is the chain's time with only those 8:
waits that held their slot would need at least (snapshots + copies) x creating / 8 seconds for
the waiting alone, which the bench prints beside it.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

SLOTS_TARGET = 8
CHAIN_TARGET_S = 600
SHIPPED_DATABASES = 3  # the shipped policy's weekly databases (two instances, one Aurora cluster)
BENCH_TAG = {"Key": "backstop-bench", "Value": "scaleout"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=200, help="protected databases in all")
    parser.add_argument(
        "--creating", type=float, default=30.0, help="seconds each snapshot/copy stays creating"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--concurrency", type=int, default=4, help="Celery slots per worker (2 x 4 = the 8-slot target)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="per DAG run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="Airflow's default Celery settings: tasks import boto3 and Backstop themselves (for comparison)",
    )
    return parser.parse_args(argv)


def bench_policy(path: Path, names: list[str]) -> Path:
    import yaml

    policy = yaml.safe_load((ROOT / "include" / "backup_policy.yaml").read_text())
    policy["defaults"]["manual_snapshot_quota"] = 5000  # the bench's own account, not the RDS default 100
    template = policy["rds_snapshots"][0]
    policy["rds_snapshots"].append(
        {
            **template,
            "name": "bench-scaleout",
            "resources": [{"type": "rds_instance", "id": n} for n in names],
        }
    )
    path.write_text(yaml.safe_dump(policy))
    return path


def seed_databases(endpoint: str, names: list[str]) -> None:
    import boto3

    from include.local.fleet import PRIMARY_KMS_ALIAS, PRIMARY_REGION

    def make(name: str) -> None:
        boto3.client(
            "rds",
            region_name=PRIMARY_REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_db_instance(
            DBInstanceIdentifier=name,
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="bench",
            MasterUserPassword="bench-password-1",
            StorageEncrypted=True,
            KmsKeyId=PRIMARY_KMS_ALIAS,
            Tags=[BENCH_TAG],
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, names))


class StatsdTimers:
    """A UDP listener for Airflow's StatsD metrics; keeps the values of one timer."""

    def __init__(self, metric: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.metric = metric.encode()
        self.values: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except OSError:
                continue
            for line in data.splitlines():
                name, _, rest = line.partition(b":")
                if name.endswith(self.metric) and rest.endswith(b"|ms"):
                    self.values.append(float(rest[:-3]))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class Sampler:
    """Worker slots in use, deferred tasks and triggerer RSS, from the metadata DB and /proc."""

    def __init__(self, topo) -> None:
        self.topo = topo
        self.peak_running = 0
        self.peak_deferred = 0
        self.running_at_deferred_peak = 0
        self.peak_triggerer_rss = 0
        self.samples = 0
        self._next = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 0.5
        counts = dict(
            self.topo.sql(
                "SELECT state, count(*) FROM task_instance WHERE state IN ('running', 'deferred') GROUP BY state"
            )
        )
        running, deferred = counts.get("running", 0), counts.get("deferred", 0)
        self.samples += 1
        self.peak_running = max(self.peak_running, running)
        if deferred > self.peak_deferred:
            self.peak_deferred, self.running_at_deferred_peak = deferred, running
        self.peak_triggerer_rss = max(self.peak_triggerer_rss, self.topo.rss_bytes("triggerer"))


def celery_task_seconds(log_dir: Path) -> list[float]:
    """How long each Celery task (one task execution: start to finish or to deferral) took, from the workers' logs."""
    import re

    found = []
    for log in sorted(log_dir.glob("worker-*.log")):
        found += [float(m) for m in re.findall(r"succeeded in ([0-9.]+)s", log.read_text(errors="replace"))]
    return sorted(found)


def run_dag(topo, dag_id: str, sampler: Sampler, timeout: float) -> tuple[dict, float, dict[str, int]]:
    started = time.monotonic()
    run_id = topo.wait_for_first_run(dag_id, timeout=300, poll=sampler)
    run = topo.wait_for_run(dag_id, run_id, timeout=timeout, poll=sampler)
    rows = topo.sql(
        "SELECT state, count(*) FROM task_instance WHERE dag_id = %s AND run_id = %s GROUP BY state",
        (dag_id, run_id),
    )
    states = {str(state): count for state, count in rows}  # the REST API pages at 100
    return run, time.monotonic() - started, states


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from include.local.celery_topology import CeleryTopology
    from include.local.creating_proxy import CreatingProxy
    from include.local.stack import LocalStack

    work = Path(tempfile.mkdtemp(prefix="backstop-scaleout-"))
    names = [f"scaleout-db-{i:03d}" for i in range(args.databases - SHIPPED_DATABASES)]
    policy = bench_policy(work / "policy.yaml", names)
    os.environ["MOTO_RDS_SNAPSHOT_LIMIT"] = str(10 * args.databases)
    timers = StatsdTimers("scheduler.scheduler_loop_duration")
    extra_env = {
        "BACKSTOP_POLICY_FILE": str(policy),
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(timers.port),
        "AIRFLOW__CORE__PARALLELISM": "64",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
        "AIRFLOW__TRIGGERER__CAPACITY": "1000",
    }
    if args.no_warmup:
        extra_env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = (
            "airflow.providers.celery.executors.default_celery.DEFAULT_CELERY_CONFIG"
        )
    print(
        f"== scaleout: {args.databases} databases, creating {args.creating:.0f}s, "
        f"{args.workers} workers x {args.concurrency} slots; work dir {work}",
        flush=True,
    )
    t_setup = time.monotonic()
    with LocalStack(work / "stack" / "stack.json", seed=True) as stack:
        seed_databases(stack.aws_endpoint_url, names)
        with CreatingProxy(stack.aws_endpoint_url, args.creating, work / "proxy") as proxy:
            with CeleryTopology(
                work / "topo",
                stack_state=stack.state,
                aws_endpoint_url=proxy.url,
                workers=args.workers,
                worker_concurrency=args.concurrency,
                extra_env=extra_env,
                startup_timeout=600,
            ) as topo:
                topo.wait_for_dags(
                    ["rds_weekly_snapshot", "rds_cross_region_copy", "retention_prune"], timeout=600
                )
                print(
                    f"   topology up in {time.monotonic() - t_setup:.0f} s (stack, seed, migrate, 6 processes)"
                )
                sampler = Sampler(topo)
                t0 = time.monotonic()
                topo.unpause("rds_weekly_snapshot")
                topo.unpause("rds_cross_region_copy")
                results = {}
                for dag_id in ("rds_weekly_snapshot", "rds_cross_region_copy", "retention_prune"):
                    if dag_id == "retention_prune":
                        topo.unpause(dag_id)
                    run, took, states = run_dag(topo, dag_id, sampler, args.timeout)
                    results[dag_id] = (run["state"], took, states)
                    print(f"   {dag_id:24s} {run['state']:8s} {took:6.0f} s  tasks {states}", flush=True)
                chain = time.monotonic() - t0
                proxy_stats = proxy.stats()
                cpu = {name: topo.cpu_seconds(name) for name in topo.procs if name != "redis"}
                executions = celery_task_seconds(topo.log_dir)
    timers.stop()
    loops = sorted(timers.values)
    ok = all(state == "success" for state, _, _ in results.values())
    print("== figures")
    print(f"   whole chain (unpause -> prune done)    {chain:6.0f} s   (target < {CHAIN_TARGET_S} s)")
    print(
        f"   peak worker slots used                 {sampler.peak_running:6d}     (target <= {SLOTS_TARGET}; "
        f"{args.workers * args.concurrency} available)"
    )
    print(
        f"   tasks deferred at peak                 {sampler.peak_deferred:6d}     "
        f"(with {sampler.running_at_deferred_peak} running at that moment)"
    )
    held = (2 * args.databases - 1) * args.creating / (args.workers * args.concurrency)
    print(
        f"   waiting alone if waits held their slot {held:6.0f} s   (snapshots + copies x creating / slots)"
    )
    print(f"   triggerer RSS, peak (with its child)   {sampler.peak_triggerer_rss / 2**20:6.0f} MB")
    if loops:
        print(
            f"   scheduler loop time                    median {statistics.median(loops):.0f} ms, "
            f"p95 {loops[int(0.95 * (len(loops) - 1))]:.0f} ms, max {loops[-1]:.0f} ms ({len(loops)} loops)"
        )
    else:
        print("   scheduler loop time                    no StatsD timers received")
    print(
        f"   describe answers rewritten to creating {proxy_stats['rewritten']:6.0f}     "
        f"({proxy_stats['snapshots_seen']:.0f} snapshots seen by the proxy)"
    )
    if executions:
        print(
            f"   Celery task executions                 {len(executions):6d}     median "
            f"{statistics.median(executions):.1f} s, p90 {executions[int(0.9 * (len(executions) - 1))]:.1f} s each"
        )
    workers_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
    print(
        "   CPU seconds by process (with children)  "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
    )
    if executions:
        print(
            f"   worker CPU per task execution          {workers_cpu / len(executions):6.2f} s   "
            f"(all processes: {sum(cpu.values()) / len(executions):.2f} s; warm-up {'off' if args.no_warmup else 'on'})"
        )
    print(f"   samples                                {sampler.samples:6d}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
