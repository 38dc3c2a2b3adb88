"""DAG folder parse cost: load all of dags/ in a fresh process, minus `import airflow.sdk`.

Two figures: with the shipped policy (target < 0.2 s) and with a generated policy protecting
1,000 RDS instances (target < 0.5 s). The project's own modules are byte-compiled first, as
they are in a deployed image (this environment sets PYTHONDONTWRITEBYTECODE, so an import
would otherwise compile them from source in every process).

Each run is a fresh interpreter that times `import airflow.sdk` and then the import of every
DAG file on top of it; the figure is the median over runs of (total - airflow.sdk). Pairing
the two in one process removes most of the noise of a shared machine, where two separate
fresh-process medians of ~3 s differ by more than the 0.3 s being measured (the unpaired
figure is printed too).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

SDK_ONLY = "import time; t=time.perf_counter(); import airflow.sdk; print(time.perf_counter()-t)"
# Imports airflow.sdk first (the baseline), then times every DAG file's import on top of it,
# the way the DAG processor executes a file.
DAGS = r"""
import importlib.util, sys, time
from pathlib import Path
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
for i, path in enumerate(sorted(Path(sys.argv[1]).glob("*.py"))):
    spec = importlib.util.spec_from_file_location(f"bench_dag_{i}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
t2 = time.perf_counter()
print(t1 - t0, t2 - t0)
"""


BOTO3_CHECK = DAGS.replace("print(t1 - t0, t2 - t0)", "print(float('boto3' in sys.modules))")


def large_policy(path: Path, instances: int = 1000) -> Path:
    """The shipped policy plus `instances` RDS instances spread over 10 more snapshot policies."""
    import yaml

    policy = yaml.safe_load((ROOT / "include" / "backup_policy.yaml").read_text())
    template = policy["rds_snapshots"][0]
    per_policy = instances // 10
    policy["rds_snapshots"] += [
        {
            **template,
            "name": f"bench-fleet-{p:02d}",
            "resources": [
                {"type": "rds_instance", "id": f"bench-db-{p:02d}-{i:04d}"} for i in range(per_policy)
            ],
        }
        for p in range(10)
    ]
    path.write_text(yaml.safe_dump(policy))
    return path


def _run(code: str, *args: str, policy: Path | None = None) -> list[float]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="backstop-bench-"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    }
    env.pop("BACKSTOP_POLICY_FILE", None)
    if policy is not None:
        env["BACKSTOP_POLICY_FILE"] = str(policy)
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    return [float(x) for x in out.stdout.strip().splitlines()[-1].split()]


def _parse_cost(policy: Path | None) -> float:
    """Median over RUNS fresh processes of (import airflow.sdk + all DAG files) - (airflow.sdk)."""
    own = []
    for _ in range(RUNS):
        base, whole = _run(DAGS, str(ROOT / "dags"), policy=policy)
        own.append(whole - base)
    return statistics.median(own)


def main() -> None:
    import compileall

    compileall.compile_dir(str(ROOT / "plugins"), quiet=1)
    compileall.compile_dir(str(ROOT / "dags"), quiet=1)
    sdk = []
    _run(SDK_ONLY)  # warm the OS file cache once
    for _ in range(RUNS):
        sdk.append(_run(SDK_ONLY)[0])
    dag_files = sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    print(f"dag files: {len(dag_files)} ({', '.join(dag_files)})")
    print(f"runs: {RUNS}")
    print(f"import airflow.sdk, fresh process: median {statistics.median(sdk):.3f} s")
    print(f"boto3 imported while parsing: {_run(BOTO3_CHECK, str(ROOT / 'dags'))[0] > 0}")
    shipped = _parse_cost(None)
    print(
        f"dags parse cost, shipped policy: {shipped:.2f} s (target < 0.20 s: {'met' if shipped < 0.2 else 'MISSED'})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        large = _parse_cost(large_policy(Path(tmp) / "policy-1000.yaml"))
    print(
        f"dags parse cost, 1,000 instances: {large:.2f} s (target < 0.50 s: {'met' if large < 0.5 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
