"""`make demo`: every implemented pipeline, once, against the local stack, with a summary.

Steps: start the local stack (moto server + Slack recorder) in .local/demo/, seed the
fleet from the seed documents, migrate a throw-away Airflow metadata DB, load
airflow_settings.yaml, then run each scenario with `airflow dags test` and print what it
did: snapshots made (names, tags, sizes of the wait), Slack messages received, pass/fail.
Exit code 0 only when every scenario ended as expected.

Scenarios are data: each pipeline has a module include/local/demo_<pipeline>.py with a
SCENARIOS list (see demo_rds.py); `all_scenarios()` below collects them.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from include.local import fleet as fleet_module
from include.local import settings as local_settings
from include.local.slack_recorder import RecorderClient
from include.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:  # `make demo` sets PYTHONPATH; `python -m` alone does not
    sys.path.insert(0, str(ROOT / "plugins"))
WORK = ROOT / ".local" / "demo"
POLICY = ROOT / "include" / "backup_policy.yaml"


@dataclass
class Scenario:
    title: str
    dag_id: str
    expect_state: str
    explain: str
    policy_change: Callable[[dict], None] | None = None
    # The policy schedule whose last fire time is the run's logical date.
    schedule: str = "weekly"
    # `airflow dags test -c`: the run's conf (params)
    conf: dict | None = None
    # Runs before the DAG (e.g. `terraform apply`); returns lines to print.
    before: Callable[[Demo, Scenario], list[str]] | None = None
    summarize: Callable[[Demo, Scenario, dict], list[str]] | None = None
    checks: Callable[[Demo, Scenario, dict], list[str]] | None = None  # returns problems
    result: dict[str, Any] = field(default_factory=dict)


class Demo:
    def __init__(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        self.stack = LocalStack(WORK / "stack.json", seed=False)
        self.env: dict[str, str] = {}
        self.slack: RecorderClient | None = None
        self.dataplane: Any = None  # the embedded PostgreSQL (include/local/dataplane.py), once started

    # --- plumbing ----------------------------------------------------------------------

    def start(self) -> None:
        step("Starting the local stack (moto server as AWS, Slack recorder)")
        self.stack.start()
        print(f"    AWS endpoint  {self.stack.aws_endpoint_url}")
        print(f"    Slack API     {self.stack.slack_base_url}")
        step("Seeding the emulated account with the TriFlow fleet")
        summary = fleet_module.seed_fleet(self.stack.aws_endpoint_url)
        print(indent(fleet_module.format_summary(summary)))
        self.slack = RecorderClient(self.stack.slack_base_url)
        home = WORK / "airflow"
        self.env = local_settings.airflow_env(self.stack.env(), home)
        step("Starting the local data plane (embedded PostgreSQL standing in for RDS storage)")
        from include.local import demo_drill

        for line in demo_drill.start_dataplane(self):
            print(indent(line))
        step(f"Preparing Airflow metadata DB in {home.relative_to(ROOT)}")
        self.airflow("db", "migrate", quiet=True)
        for argv in local_settings.pool_commands(local_settings.load_settings(environ=self.env)):
            self.airflow(*argv[1:], quiet=True)

    def airflow(
        self, *args: str, quiet: bool = False, env: dict | None = None, log: Path | None = None
    ) -> int:
        cmd = [sys.executable, "-m", "airflow", *args]
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            done = subprocess.run(cmd, env=env or self.env, stdout=out, stderr=subprocess.STDOUT, timeout=900)
        finally:
            if log:
                out.close()
        if done.returncode != 0 and quiet:
            raise SystemExit(f"`airflow {' '.join(args)}` failed with exit code {done.returncode}")
        return done.returncode

    def latest_run(self, dag_id: str) -> dict[str, Any]:
        """The newest run of a DAG from the demo's metadata DB: run id, state, task instances
        with their return values (a separate process, so it reads what `airflow dags test` wrote)."""
        out = subprocess.run(
            [sys.executable, "-c", _LATEST_RUN, dag_id],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise SystemExit(f"could not read the run of {dag_id}: {out.stderr[-2000:]}")
        run = json.loads(out.stdout.strip().splitlines()[-1])
        for row in run["tasks"]:
            if isinstance(row["xcom"], str):
                try:
                    row["xcom"] = json.loads(row["xcom"])
                except json.JSONDecodeError:
                    pass
        return run

    # --- running -------------------------------------------------------------------------

    def run(self, scenario: Scenario, number: int) -> bool:
        step(f"[{number}] {scenario.title}")
        print(indent(scenario.explain))
        env = dict(self.env)
        if scenario.policy_change:
            data = yaml.safe_load(POLICY.read_text())
            changed = copy.deepcopy(data)
            scenario.policy_change(changed)
            path = WORK / f"policy-{number}.yaml"
            path.write_text(yaml.safe_dump(changed, sort_keys=False))
            env["BACKSTOP_POLICY_FILE"] = str(path)
            print(indent(f"policy: {path.relative_to(ROOT)} (the shipped policy, changed as described)"))
        assert self.slack is not None
        self.slack.reset()
        for line in (scenario.before or (lambda *_: []))(self, scenario):
            print(indent(line))
        logical_date = last_fire_time(POLICY, scenario.schedule)
        log = WORK / f"{number:02d}-{scenario.dag_id}.log"
        started = time.monotonic()
        conf = ["-c", json.dumps(scenario.conf)] if scenario.conf else []
        self.airflow("dags", "test", *conf, scenario.dag_id, logical_date.isoformat(), env=env, log=log)
        elapsed = time.monotonic() - started
        run = self.latest_run(scenario.dag_id)
        run_id, state = run["run_id"], run["state"]
        result = {
            "run_id": run_id,
            "state": state,
            "seconds": elapsed,
            "tasks": run["tasks"],
            "slack": self.slack.messages(),
            "log": log,
        }
        scenario.result = result
        print(indent(f"dag run {run_id}: {state} in {elapsed:.1f} s (log: {log.relative_to(ROOT)})"))
        for line in (scenario.summarize or (lambda *_: []))(self, scenario, result):
            print(indent(line))
        problems = []
        if state != scenario.expect_state:
            problems.append(f"expected the run to end {scenario.expect_state}, it ended {state}")
        problems += (scenario.checks or (lambda *_: []))(self, scenario, result)
        for message in result["slack"]:
            print(indent(f"slack -> {message['channel']}: {message['text']}"))
        if not result["slack"]:
            print(indent("slack: no messages"))
        result["problems"] = problems
        verdict = "OK" if not problems else "UNEXPECTED: " + "; ".join(problems)
        print(indent(f"=> {verdict}"))
        return not problems

    def stop(self) -> None:
        from include.local import demo_drill

        try:
            demo_drill.stop_dataplane(self)
        finally:
            self.stack.stop()


_LATEST_RUN = """
import json, sys
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance as TI
from airflow.models.xcom import XComModel as X
from airflow.utils.session import create_session
with create_session() as s:
    run = s.query(DagRun).filter(DagRun.dag_id == sys.argv[1]).order_by(DagRun.id.desc()).first()
    tasks = []
    for ti in s.query(TI).filter(TI.dag_id == run.dag_id, TI.run_id == run.run_id):
        x = s.query(X).filter(X.dag_id == ti.dag_id, X.run_id == ti.run_id, X.task_id == ti.task_id,
                              X.map_index == ti.map_index, X.key == "return_value").first()
        tasks.append({"task_id": ti.task_id, "map_index": ti.map_index, "state": str(ti.state),
                      "label": ti.rendered_map_index, "tries": ti.try_number, "duration": ti.duration,
                      "xcom": x.value if x else None})
    print(json.dumps({"run_id": run.run_id, "state": str(run.state), "tasks": tasks}, default=str))
"""


# --- helpers -------------------------------------------------------------------------------


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in str(text).splitlines())


def last_fire_time(policy_path: Path, schedule: str) -> datetime:
    """The most recent fire time of a policy schedule (what the scheduler would have run last)."""
    from croniter import croniter

    policy = yaml.safe_load(policy_path.read_text())
    zone = ZoneInfo(policy["defaults"]["timezone"])
    cron = policy["schedules"][schedule]["cron"]
    return croniter(cron, datetime.now(zone)).get_prev(datetime).astimezone(UTC)


def all_scenarios() -> list[Scenario]:
    """Every pipeline's scenarios, in the order the demo runs them (one module per pipeline)."""
    from include.local import demo_drill, demo_rds, demo_terraform

    # demo_drill after demo_rds: the DR drill restores the copy made by rds_cross_region_copy.
    modules = [demo_rds, demo_drill, demo_terraform]
    return [scenario for module in modules for scenario in module.SCENARIOS]


def main() -> int:
    demo = Demo()
    scenarios = all_scenarios()
    print(f"Backstop demo: {len(scenarios)} scenarios, each run for its schedule's last fire time")
    ok = True
    try:
        demo.start()
        for number, scenario in enumerate(scenarios, start=1):
            ok = demo.run(scenario, number) and ok
    finally:
        demo.stop()
    step("Summary")
    for number, scenario in enumerate(scenarios, start=1):
        r = scenario.result
        mark = "ok " if r.get("state") == scenario.expect_state and not r.get("problems") else "BAD"
        print(
            f"    {mark} [{number}] {scenario.dag_id:24} {r.get('state', 'not run'):8} "
            f"{r.get('seconds', 0):5.1f} s  {scenario.title}"
        )
    print("\nAll pipelines did what they should." if ok else "\nSome pipelines did NOT do what they should.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
