"""A triggerer's worth of deferred waits: N RdsSnapshotAvailableTriggers in one process, one loop.

Each run() coroutine is driven as the triggerer drives it (one asyncio task per trigger on a
single event loop, polls in the loop's default thread pool) against the local moto server.
A heartbeat task sleeps 10 ms at a time and records how late it wakes: the longest stall of
the event loop. Peak RSS is the process's ru_maxrss (each mode runs in its own process).

Keeping the waits pending: moto answers `available` at once, so a botocore `after-call` handler
on each client the triggers poll with rewrites DescribeDBSnapshots' Status to `creating` until
`--pending` seconds after the triggers start; then the real `available` comes through and every
trigger fires. The handler is registered (once, by unique id) on whatever client a trigger
polls with, so every mode sees the same responses. No proxy: the HTTP calls go to moto as is.

Modes (each in its own process):
  before           the behaviour on main before the shared clients: each trigger builds its own
                   hook and client on the event loop (`make_hook(...).conn` inside run()), then
                   polls in a thread
  after            backstop.airflow.triggers as shipped: one shared client per connection/region/
                   config, looked up (and built once) in the worker thread of the poll
  after-gc-freeze  the same, with gc.freeze() of the start-up heap before the triggers start

Stalls are also matched against the interpreter's full (generation-2) garbage collections,
recorded with gc.callbacks: a full GC of Airflow's start-up heap (~110 MB) holds the GIL for
0.2-0.35 s here, whichever thread allocates, and building the first client (parsing botocore's
RDS model) is what sets one off. That is the process, not the trigger code; `after-gc-freeze`
shows the difference gc.freeze() makes (Airflow's DAG processor and LocalExecutor do it; the
triggerer does not).

`before` builds a client per trigger (about 13 MB and 0.1-0.5 s of blocked loop each), so it
runs with `--before-n` triggers (default 200) and the memory is also scaled to N (marked
"scaled"); pass `--before-n 1000` to measure it in full (about 13 GB).

    .venv/bin/python bench/triggerer.py [--n 1000] [--before-n 200]
        [--mode all|before|after|after-gc-freeze] [--waiter-delay 5] [--pending 20] [--snapshots 20]

Targets (after, N=1000): peak RSS < 1 GB; no event-loop stall over 0.1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

REGION = "ap-northeast-2"
SOURCE = "triflow-ai-production-db"
RSS_TARGET_MB = 1024
STALL_TARGET_S = 0.1
MODES = ["before", "after", "after-gc-freeze"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="concurrent deferred waits (default 1000)")
    parser.add_argument("--before-n", type=int, default=200, help="waits in the 'before' run (default 200)")
    parser.add_argument("--mode", choices=["all", *MODES], default="all")
    parser.add_argument("--waiter-delay", type=float, default=5.0, help="seconds between polls (default 5)")
    parser.add_argument("--pending", type=float, default=20.0, help="seconds the snapshots look 'creating'")
    parser.add_argument("--snapshots", type=int, default=20, help="distinct snapshots watched (default 20)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- the worker: one process, one mode ------------------------------------------------------------


def worker(args: argparse.Namespace) -> dict:
    import asyncio
    import gc
    import resource
    import threading
    from collections import Counter

    from airflow.triggers.base import TriggerEvent

    import backstop.aws.hooks as hooks
    from backstop.airflow.triggers import RdsSnapshotAvailableTrigger

    builds: list[tuple[float, float]] = []  # (start, end) of every hook + client build
    real_make_hook = hooks.make_hook

    def make_hook(hook_class, **kwargs):
        started = time.monotonic()
        hook = real_make_hook(hook_class, **kwargs)
        hook.conn  # noqa: B018 - the client is the expensive part; time it with the hook
        builds.append((started, time.monotonic()))
        return hook

    hooks.make_hook = make_hook  # shared_hook() builds through this module attribute

    clients: set[int] = set()
    clients_lock = threading.Lock()
    polls = Counter()
    pending_until = [float("inf")]

    def creating(parsed, **_):
        if time.monotonic() < pending_until[0]:
            for snapshot in parsed.get("DBSnapshots", []):
                snapshot["Status"] = "creating"

    def keep_pending(client) -> None:
        with clients_lock:
            if id(client) in clients:
                return
            clients.add(id(client))
        client.meta.events.register("after-call.rds.DescribeDBSnapshots", creating, unique_id="bench-pending")

    class After(RdsSnapshotAvailableTrigger):
        def look(self):
            client = self.hook.conn
            keep_pending(client)
            polls["n"] += 1
            return self.poll(client)

    class Before(RdsSnapshotAvailableTrigger):
        """main's PollingTrigger.run, verbatim but for the bench's pending handler."""

        _own_hook = None

        @property
        def own_hook(self):
            if self._own_hook is None:
                self._own_hook = make_hook(
                    self.hook_class_path,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                )
            return self._own_hook

        async def run(self):
            message = ""
            for attempt in range(1, self.waiter_max_attempts + 1):
                client = self.own_hook.conn  # on the event loop, as on main
                keep_pending(client)
                polls["n"] += 1
                status, message = await asyncio.to_thread(self.poll, client)
                if status != "pending":
                    yield TriggerEvent({"status": status, self.event_key: self.subject(), "message": message})
                    return
                self.log.info("Waiting (%d/%d): %s", attempt, self.waiter_max_attempts, message)
                await asyncio.sleep(self.waiter_delay)
            yield TriggerEvent({"status": "timeout", self.event_key: self.subject(), "message": message})

    cls = Before if args.mode == "before" else After
    n = args.before_n if args.mode == "before" else args.n
    attempts = int((args.pending + 600) / max(args.waiter_delay, 0.1)) + 10
    triggers = [
        cls(
            db_type="instance",
            snapshot_id=f"bench-wait-{i % args.snapshots:03d}",
            region_name=REGION,
            waiter_delay=args.waiter_delay,
            waiter_max_attempts=attempts,
        )
        for i in range(n)
    ]
    # The triggerer rebuilds each trigger from its serialized form; do the same.
    triggers = [cls(**t.serialize()[1]) for t in triggers]
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.mode == "after-gc-freeze":
        gc.freeze()
    full_gcs: list[tuple[float, float]] = []  # (start, seconds) of every generation-2 collection

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            on_gc.started = time.monotonic()
        elif info["generation"] == 2:
            full_gcs.append((on_gc.started, time.monotonic() - on_gc.started))

    gc.callbacks.append(on_gc)

    async def main() -> dict:
        stalls: list[tuple[float, float]] = []  # (start, lateness)
        done = asyncio.Event()

        async def heartbeat() -> None:
            while not done.is_set():
                started = time.monotonic()
                await asyncio.sleep(0.01)
                stalls.append((started, time.monotonic() - started - 0.01))

        async def run_trigger(trigger) -> dict:
            async for event in trigger.run():
                return event.payload
            raise AssertionError("trigger ended without an event")

        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0.05)  # let the heartbeat start before the triggers do
        started = time.monotonic()
        pending_until[0] = started + args.pending
        payloads = await asyncio.gather(*(run_trigger(t) for t in triggers))
        wall = time.monotonic() - started
        done.set()
        await beat
        statuses = Counter(p["status"] for p in payloads)
        over = [(at, late) for at, late in stalls if late > STALL_TARGET_S]

        def overlaps(at: float, late: float, windows) -> bool:
            return any(start < at + late + 0.01 and at < end for start, end in windows)

        gc_windows = [(start, start + seconds) for start, seconds in full_gcs]

        def cause(at: float, late: float) -> str:
            if overlaps(at, late, builds):
                return "build"
            return "gc" if overlaps(at, late, gc_windows) else "other"

        return {
            "mode": args.mode,
            "n": n,
            "wall_s": round(wall, 1),
            "statuses": dict(statuses),
            "clients": len(clients),
            "polls": polls["n"],
            "max_stall_s": round(max(late for _, late in stalls), 3),
            "stalls_over_target": len(over),
            "stalls_over_target_by_cause": dict(Counter(cause(at, late) for at, late in over)),
            "max_stall_other_s": round(
                max((late for at, late in stalls if cause(at, late) == "other"), default=0.0), 3
            ),
            "worst_stalls": [
                (round(at - started, 2), round(late, 3), cause(at, late))
                for at, late in sorted(stalls, key=lambda s: -s[1])[:3]
            ],
            "builds": len(builds),
            "build_s": round(sum(end - start for start, end in builds), 1),
            "full_gcs": len(full_gcs),
            "longest_full_gc_s": round(max((s for _, s in full_gcs), default=0.0), 3),
            "rss_baseline_mb": round(rss_before_mb),
        }

    result = asyncio.run(main())
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


# -- the parent: the stack, the snapshots, one process per mode -----------------------------------


def seed(endpoint_url: str, count: int) -> None:
    import boto3

    from include.local.fleet import seed_fleet

    seed_fleet(endpoint_url)
    rds = boto3.client("rds", region_name=REGION, endpoint_url=endpoint_url)
    for i in range(count):
        rds.create_db_snapshot(DBInstanceIdentifier=SOURCE, DBSnapshotIdentifier=f"bench-wait-{i:03d}")


def run_mode(mode: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    argv = [
        sys.executable,
        __file__,
        "--worker",
        f"--mode={mode}",
        f"--n={args.n}",
        f"--before-n={args.before_n}",
        f"--waiter-delay={args.waiter_delay}",
        f"--pending={args.pending}",
        f"--snapshots={args.snapshots}",
    ]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(result: dict, n: int) -> None:
    per_trigger = (result["peak_rss_mb"] - result["rss_baseline_mb"]) / max(result["n"], 1)
    print(
        f"{result['mode']}  N={result['n']:<5} peak RSS {result['peak_rss_mb']:>6} MB"
        f" (baseline {result['rss_baseline_mb']} MB, {per_trigger:.2f} MB per wait)"
        f"  clients {result['clients']}  polls {result['polls']}  all fired in {result['wall_s']} s"
        f" {result['statuses']}"
    )
    print(
        f"        longest loop stall {result['max_stall_s']:.3f} s; {result['stalls_over_target']} over"
        f" {STALL_TARGET_S} s by cause {result['stalls_over_target_by_cause']}"
        f" (build: overlaps one of {result['builds']} client builds, {result['build_s']} s in all;"
        f" gc: overlaps one of {result['full_gcs']} full GCs, longest {result['longest_full_gc_s']:.3f} s);"
        f" longest stall with neither {result['max_stall_other_s']:.3f} s"
    )
    worst = ", ".join(f"{late:.3f} s at {at:+.1f} s ({why})" for at, late, why in result["worst_stalls"])
    print(f"        worst stalls (time from the triggers' start): {worst}")
    if result["n"] != n:
        scaled = result["rss_baseline_mb"] + per_trigger * n
        print(f"        scaled to N={n}: peak RSS ~{scaled:,.0f} MB (linear in the per-wait figure)")


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    from include.local.stack import LocalStack

    stack = LocalStack(ROOT / ".local" / "bench" / "triggerer-stack.json")
    stack.start()
    try:
        env = {**os.environ, **stack.env()}
        os.environ.update(stack.env())
        seed(stack.aws_endpoint_url, args.snapshots)
        print(
            f"{args.snapshots} snapshots kept 'creating' for {args.pending:.0f} s by an after-call hook;"
            f" waiter_delay {args.waiter_delay:g} s; one process and one event loop per mode"
        )
        modes = MODES if args.mode == "all" else [args.mode]
        results = {mode: run_mode(mode, args, env) for mode in modes}
    finally:
        stack.stop()
    for mode in modes:
        report(results[mode], args.n)
    for mode in ("after", "after-gc-freeze"):
        if mode not in results:
            continue
        result = results[mode]
        rss_ok = result["peak_rss_mb"] < RSS_TARGET_MB
        stall_ok = result["max_stall_s"] <= STALL_TARGET_S
        print(
            f"targets ({mode}, N={result['n']}): peak RSS < {RSS_TARGET_MB} MB:"
            f" {'met' if rss_ok else 'NOT met'} ({result['peak_rss_mb']} MB);"
            f" longest stall <= {STALL_TARGET_S} s: {'met' if stall_ok else 'NOT met'}"
            f" ({result['max_stall_s']:.3f} s)"
        )


if __name__ == "__main__":
    main()
