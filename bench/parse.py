"""DAG folder parse cost: load all of dags/ in a fresh process, minus `import airflow.sdk`.

Each run is a fresh interpreter that times `import airflow.sdk` and then the import of every
DAG file on top of it; the figure is the median over runs of (total - airflow.sdk). Pairing
the two in one process removes most of the noise of a shared machine, where two separate
fresh-process medians of ~3 s differ by more than the 0.3 s being measured (the unpaired
figure is printed too). Target: under 0.3 s for the whole folder.
Last line: `dags parse cost: X.XX s`.
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


def _run(code: str, *args: str) -> list[float]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="backstop-bench-"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    return [float(x) for x in out.stdout.strip().splitlines()[-1].split()]


def main() -> None:
    sdk, total, own_in_process = [], [], []
    _run(SDK_ONLY)  # warm the OS file cache once
    for _ in range(RUNS):
        sdk.append(_run(SDK_ONLY)[0])
        base, whole = _run(DAGS, str(ROOT / "dags"))
        total.append(whole)
        own_in_process.append(whole - base)
    dag_files = sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    print(f"dag files: {len(dag_files)} ({', '.join(dag_files)})")
    print(f"runs: {RUNS}")
    print(f"import airflow.sdk, fresh process: median {statistics.median(sdk):.3f} s")
    print(f"airflow.sdk + all dags, fresh process: median {statistics.median(total):.3f} s")
    cost = statistics.median(own_in_process)
    unpaired = statistics.median(total) - statistics.median(sdk)
    print(f"unpaired (median total - median sdk-only process): {unpaired:+.3f} s (noisy)")
    print(f"boto3 imported while parsing: {_run(BOTO3_CHECK, str(ROOT / 'dags'))[0] > 0}")
    print(f"target: < 0.30 s  ->  {'met' if cost < 0.3 else 'MISSED'}")
    print(f"dags parse cost: {cost:.2f} s")


if __name__ == "__main__":
    main()
