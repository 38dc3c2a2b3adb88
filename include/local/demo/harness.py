"""`make demo`: every implemented pipeline, once, against the local stack, in one process.

Steps: start the local stack (moto server + Slack recorder) in .local/demo/, seed the fleet from
the seed documents, start the local data plane (embedded PostgreSQL); meanwhile, in a thread,
import Airflow, migrate a throw-away metadata DB in .local/demo/airflow and ready the in-process
execution API; create the pools of airflow_settings.yaml; then run each scenario with
`dag.test()` in this process, at its schedule's last fire time, and print what it did:
snapshots made, Slack messages received, pass/fail. Each scenario's Airflow logs go to
.local/demo/NN-<dag_id>.log, the set-up's (with phase timings) to .local/demo/airflow-setup.log.

Exit code 0 only when every scenario ended as expected (including the expected failures and
their Slack messages).

Scenarios are data (include/local/demo/scenario.py); each pipeline's are in a module of this
package (rds.py, drills.py, tfstate.py) and `all_scenarios()` below lists them in order.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import yaml

from include.local import fleet as fleet_module
from include.local import settings as local_settings
from include.local.demo import (
    bunker,
    datastores,
    drills,
    dynamodb,
    freshness,
    rds,
    resilience,
    runner,
    tfstate,
)
from include.local.demo.scenario import RunResult, Scenario, World
from include.local.slack_recorder import RecorderClient
from include.local.stack import LocalStack

ROOT = local_settings.REPO_ROOT
WORK = ROOT / ".local" / "demo"
POLICY = ROOT / "include" / "backup_policy.yaml"


def all_scenarios() -> list[Scenario]:
    """Every pipeline's scenarios, in the order the demo runs them."""
    # drills after rds: the DR drill restores the copy made by the rds_cross_region_copy scenario.
    return [
        *rds.SCENARIOS,
        *drills.SCENARIOS,
        *bunker.SCENARIOS,  # the backup account: copies of the weekly snapshots above
        *tfstate.SCENARIOS,
        *dynamodb.SCENARIOS,
        *resilience.SCENARIOS,
        *datastores.SCENARIOS,
        *freshness.SCENARIOS,
    ]


def log_path(work: Path, number: int, scenario: Scenario) -> Path:
    return work / f"{number:02d}-{scenario.dag_id}.log"


def last_fire_time(policy_path: Path, schedule: str, now: datetime | None = None) -> datetime:
    """The most recent fire time of a policy schedule (what the scheduler would have run last)."""
    from croniter import croniter

    policy = yaml.safe_load(policy_path.read_text())
    zone = ZoneInfo(policy["defaults"]["timezone"])
    cron = policy["schedules"][schedule]["cron"]
    return croniter(cron, (now or datetime.now(UTC)).astimezone(zone)).get_prev(datetime).astimezone(UTC)


def changed_policy(scenario: Scenario) -> dict[str, Any]:
    """The shipped policy with the scenario's change applied."""
    data = yaml.safe_load(POLICY.read_text())
    if scenario.policy_change:
        scenario.policy_change(data)
    return data


@dataclass
class Outcome:
    number: int
    scenario: Scenario
    result: RunResult | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.result is not None and self.result.state == self.scenario.expect_state and not self.problems
        )


class Demo:
    def __init__(self, work: Path = WORK, out: TextIO | None = None) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.home = work / "airflow"
        self.out = out or sys.stdout
        self.sink = runner.LogSink(work / "airflow-setup.log")
        self.stack = LocalStack(work / "stack.json", seed=False)
        self.plane: Any = None  # include.local.dataplane.LocalDataPlane, once started
        self.slack: RecorderClient | None = None
        self.world: World | None = None
        self._started = time.monotonic()

    def mark(self, what: str) -> None:
        """A timing line in the current log (the setup log, or the scenario's)."""
        print(f"[demo +{time.monotonic() - self._started:6.1f} s] {what}", flush=True)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self.say(f"\n== {text}")

    # --- plumbing ----------------------------------------------------------------------

    def start(self) -> None:
        # Before Airflow is imported: its configuration, and the sink every logger will bind to.
        runner.prepare_process(self.home)
        self.out = self.sink.install()
        self.home.mkdir(parents=True, exist_ok=True)
        # What the stack start-up imports is imported here, before the setup thread imports
        # Airflow, so the two threads never import the same modules at the same time.
        import psycopg  # noqa: F401

        from include.local import dataplane  # noqa: F401

        airflow_setup = runner.AirflowSetup()
        airflow_setup.start()
        self.mark("Airflow setup started (import, db migrate, execution API)")
        try:
            self._start_stack()
        except BaseException:
            airflow_setup.join(timeout=300)  # never leave a migration half done on the way out
            raise
        self.step(f"Preparing Airflow metadata DB in {self.home.relative_to(ROOT)}")
        airflow_setup.finish()
        self.mark("Airflow imported, metadata DB migrated, execution API built")
        runner.ensure_pools(local_settings.load_settings(environ=os.environ).pools)
        self.mark("pools created")

    def _start_stack(self) -> None:
        self.step("Starting the local stack (moto server as AWS, Slack recorder)")
        self.stack.start()
        self.mark("stack started")
        self.say(indent(f"AWS endpoint  {self.stack.aws_endpoint_url}"))
        self.say(indent(f"Slack API     {self.stack.slack_base_url}"))
        self.step("Seeding the emulated account with the TriFlow fleet")
        summary = fleet_module.seed_fleet(self.stack.aws_endpoint_url)
        self.say(indent(fleet_module.format_summary(summary)))
        self.mark("fleet seeded")
        os.environ.update(self.stack.env())  # AIRFLOW_CONN_*: aws_default, slack_api_default
        self.slack = RecorderClient(self.stack.slack_base_url)

        self.step("Starting the local data plane (embedded PostgreSQL standing in for RDS storage)")
        from include.local.dataplane import start_for_stack

        self.plane = start_for_stack(self.stack.aws_endpoint_url, self.work / "pg")
        os.environ.update(self.plane.env())  # BACKSTOP_LOCAL_DATAPLANE: restores clone the source
        rows = self.plane.sql("SELECT COUNT(*) FROM core.workflows")[0][0]
        self.say(
            indent(
                f"embedded PostgreSQL on {self.plane.config()['host']}:{self.plane.port} "
                "(local data plane: emulation of RDS)"
            )
        )
        self.say(
            indent(
                f"source database triflow: core.workflows has {rows} rows; "
                "master role password from Secrets Manager"
            )
        )
        self.world = World(self.stack.aws_endpoint_url, self.plane)
        self.mark("data plane started")

    def stop(self) -> None:
        try:
            if self.plane is not None:
                self.plane.stop()
        finally:
            try:
                self.stack.stop()
            finally:
                self.sink.close()

    # --- running -------------------------------------------------------------------------

    def run(self, scenario: Scenario, number: int) -> Outcome:
        assert self.world is not None and self.slack is not None, "start() first"
        outcome = Outcome(number, scenario)
        self.step(f"[{number}] {scenario.title}")
        self.say(indent(scenario.explain))
        policy = POLICY
        if scenario.policy_change:
            policy = self.work / f"policy-{number}.yaml"
            policy.write_text(yaml.safe_dump(changed_policy(scenario), sort_keys=False))
            self.say(indent(f"policy: {policy.relative_to(ROOT)} (the shipped policy, changed as described)"))
        self.slack.reset()
        log = log_path(self.work, number, scenario)
        with self.sink.to(log):
            try:
                for line in scenario.before(self.world) if scenario.before else []:
                    self.say(indent(line))
                started = time.monotonic()
                dag = runner.load_dag(scenario.dag_file, scenario.dag_id, policy)
                record = runner.run_dag(dag, last_fire_time(POLICY, scenario.schedule), scenario.conf)
                elapsed = time.monotonic() - started
            except Exception as exc:
                traceback.print_exc()  # into the scenario's log
                outcome.problems.append(f"the scenario crashed: {type(exc).__name__}: {exc} (see {log})")
                self.say(indent(f"=> UNEXPECTED: {outcome.problems[0]}"))
                return outcome
        result = RunResult(
            run_id=record.run_id,
            state=record.state,
            seconds=elapsed,
            tasks=record.tasks,
            slack=self.slack.messages(),
            log=log,
        )
        outcome.result = result
        self.say(
            indent(
                f"dag run {result.run_id}: {result.state} in {elapsed:.1f} s (log: {log.relative_to(ROOT)})"
            )
        )
        try:
            for line in scenario.summarize(self.world, result) if scenario.summarize else []:
                self.say(indent(line))
            if result.state != scenario.expect_state:
                outcome.problems.append(
                    f"expected the run to end {scenario.expect_state}, it ended {result.state}"
                )
            outcome.problems += scenario.checks(self.world, result) if scenario.checks else []
        except Exception as exc:
            outcome.problems.append(f"summary or checks crashed: {type(exc).__name__}: {exc}")
        for message in result.slack:
            self.say(indent(f"slack -> {message['channel']}: {message['text']}"))
        if not result.slack:
            self.say(indent("slack: no messages"))
        verdict = "OK" if not outcome.problems else "UNEXPECTED: " + "; ".join(outcome.problems)
        self.say(indent(f"=> {verdict}"))
        return outcome

    def summary(self, scenarios: list[Scenario], outcomes: list[Outcome]) -> bool:
        self.step("Summary")
        by_number = {o.number: o for o in outcomes}
        for number, scenario in enumerate(scenarios, start=1):
            outcome = by_number.get(number)
            result = outcome.result if outcome else None
            mark = "ok " if outcome and outcome.ok else "BAD"
            state = result.state if result else "not run"
            seconds = result.seconds if result else 0.0
            self.say(
                f"    {mark} [{number}] {scenario.dag_id:24} {state:8} {seconds:5.1f} s  {scenario.title}"
            )
        ok = len(outcomes) == len(scenarios) and all(o.ok for o in outcomes)
        self.say(
            "\nAll pipelines did what they should." if ok else "\nSome pipelines did NOT do what they should."
        )
        return ok


def indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in str(text).splitlines())


def main() -> int:
    demo = Demo()
    scenarios = all_scenarios()
    demo.say(f"Backstop demo: {len(scenarios)} scenarios, each run for its schedule's last fire time")
    outcomes: list[Outcome] = []
    try:
        demo.start()
        for number, scenario in enumerate(scenarios, start=1):
            outcomes.append(demo.run(scenario, number))
    finally:
        demo.stop()
    return 0 if demo.summary(scenarios, outcomes) else 1
