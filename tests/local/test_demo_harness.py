"""The demo harness's own pieces (include/local/demo): the scenario table, reading a run back
from the metadata DB, the per-scenario log sink, and the import rules. `make demo` itself is
the end-to-end check of the scenarios; nothing here re-runs them.
"""

from __future__ import annotations

import ast
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from include.local.demo import harness, runner
from include.local.demo.scenario import RunResult

ROOT = Path(__file__).resolve().parents[2]
SUNDAY_0300_KST = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)


# --- the scenario table ----------------------------------------------------------------------


def test_scenario_table_is_consistent():
    scenarios = harness.all_scenarios()
    assert len(scenarios) == 26
    assert len({s.title for s in scenarios}) == len(scenarios)
    schedules = yaml.safe_load(harness.POLICY.read_text())["schedules"]
    for s in scenarios:
        assert (ROOT / "dags" / s.dag_file).is_file(), s.title
        assert s.schedule in schedules, s.title
        assert s.expect_state in {"success", "failed"}, s.title
    order = [s.dag_id for s in scenarios]
    # Scenario 1 adds the earlier snapshots retention prunes; the DR drill restores the copy
    # rds_cross_region_copy made.
    assert order.index("rds_weekly_snapshot") < order.index("retention_prune")
    assert order.index("rds_cross_region_copy") < order.index("restore_drill_monthly")
    # the ElastiCache drill restores the snapshot the daily ElastiCache scenario made
    assert order.index("elasticache_daily_snapshot") < order.index("elasticache_drill_triflow_redis_daily")
    # the freshness table shows what the snapshot, copy and drill scenarios left
    assert order.index("restore_drill_monthly") < order.index("backup_freshness")
    # the bunker copies the weekly snapshots scenario 1 made
    assert order.index("rds_weekly_snapshot") < order.index("bunker_copy")


def test_every_scenario_loads_its_dag_under_its_policy(tmp_path, monkeypatch):
    """Each scenario's DAG file defines its DAG under the (changed) policy, and takes its conf."""
    from backstop.policy import parse_policy

    monkeypatch.setenv(runner.POLICY_ENV_VAR, str(harness.POLICY))  # restored after the test
    for number, scenario in enumerate(harness.all_scenarios(), start=1):
        policy = harness.POLICY
        if scenario.policy_change:
            data = harness.changed_policy(scenario)
            parse_policy(data)  # a change that broke the policy would fail every DAG file
            policy = tmp_path / f"policy-{number}.yaml"
            policy.write_text(yaml.safe_dump(data))
        dag = runner.load_dag(scenario.dag_file, scenario.dag_id, policy)
        assert dag.dag_id == scenario.dag_id
        assert set(scenario.conf or {}) <= set(dag.params), scenario.title


def test_load_dag_names_what_the_file_defines(monkeypatch):
    monkeypatch.setenv(runner.POLICY_ENV_VAR, str(harness.POLICY))
    with pytest.raises(LookupError, match="retention_prune"):
        runner.load_dag("retention_prune.py", "no_such_dag", harness.POLICY)


def test_last_fire_time_is_the_previous_schedule_time_in_the_policy_zone():
    now = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # Sunday 13:00 KST
    assert harness.last_fire_time(harness.POLICY, "weekly", now) == SUNDAY_0300_KST
    # first Sunday of November 2026, 03:00 KST
    assert harness.last_fire_time(harness.POLICY, "monthly-drill", now) == datetime(
        2026, 10, 31, 18, 0, tzinfo=UTC
    )


def test_summary_is_ok_only_when_every_scenario_ended_as_expected(tmp_path):
    """The exit-code contract: expected failures count as ok; a wrong state, a problem found by
    a scenario's checks, or a scenario that never ran does not."""
    import io

    scenarios = harness.all_scenarios()[:3]  # success, success, failed (the ghost database)
    assert [s.expect_state for s in scenarios] == ["success", "success", "failed"]

    def outcome(number: int, state: str, problems: list[str] | None = None) -> harness.Outcome:
        result = RunResult(f"run-{number}", state, 1.0, [], [], tmp_path / "x.log")
        return harness.Outcome(number, scenarios[number - 1], result, problems or [])

    def summary(outcomes: list[harness.Outcome]) -> tuple[bool, str]:
        out = io.StringIO()
        demo = harness.Demo(work=tmp_path, out=out)
        ok = demo.summary(scenarios, outcomes)
        demo.sink.close()
        return ok, out.getvalue()

    good = [outcome(1, "success"), outcome(2, "success"), outcome(3, "failed")]
    ok, text = summary(good)
    assert ok and "All pipelines did what they should." in text
    assert text.count("    ok  [") == 3
    assert not summary([*good[:2], outcome(3, "success")])[0]  # the ghost database must fail the run
    assert not summary([*good[:2], outcome(3, "failed", ["expected 1 Slack alert(s), recorder got 0"])])[0]
    ok, text = summary(good[:2])  # the third never ran
    assert not ok and "BAD [3] rds_weekly_snapshot      not run" in text


# --- reading a run back ------------------------------------------------------------------------


def test_read_run_returns_states_map_indexes_labels_and_return_values(
    airflow_db, fleet, slack, tmp_path, monkeypatch
):
    """A real dag.test() run with a mapped task that half fails, read back through the ORM."""
    from tests.dag_loading import shipped_policy

    policy = shipped_policy(retries={"count": 0})
    policy["rds_snapshots"] = policy["rds_snapshots"][:1]
    policy["rds_snapshots"][0]["resources"] = [
        {"type": "rds_instance", "id": "triflow-ai-production-db"},
        {"type": "rds_instance", "id": "triflow-ai-ghost-db"},
    ]
    del policy["bunker"]  # it names the Aurora policy dropped above
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    monkeypatch.setenv(runner.POLICY_ENV_VAR, str(policy_file))
    dag = runner.load_dag("rds_snapshot.py", "rds_weekly_snapshot", policy_file)

    record = runner.run_dag(dag, SUNDAY_0300_KST)

    assert record.state == "failed" and record.run_id.startswith("manual__")
    result = RunResult(record.run_id, record.state, 0.0, record.tasks, [], tmp_path / "x.log")
    [resolve] = result.rows("resolve_targets")
    assert (resolve.map_index, resolve.state, resolve.tries) == (-1, "success", 1)
    assert isinstance(resolve.xcom, list) and len(resolve.xcom) == 2
    snapshots = result.rows("snapshot")
    assert [(r.map_index, r.label, r.state) for r in snapshots] == [
        (0, "triflow-ai-production-db", "success"),
        (1, "triflow-ai-ghost-db", "failed"),
    ]
    assert snapshots[0].xcom["snapshot_id"] == "triflow-ai-production-db-weekly-20261122"
    assert snapshots[1].xcom is None
    assert runner.read_run(dag.dag_id, record.run_id) == record
    with pytest.raises(LookupError):
        runner.read_run(dag.dag_id, "no-such-run")


# --- logs ----------------------------------------------------------------------------------------


def test_log_sink_routes_output_to_the_current_scenario_log(tmp_path):
    import structlog

    sink = runner.LogSink(tmp_path / "setup.log")
    logger = structlog.WriteLogger(sink)  # what Airflow's structlog loggers are: bound once
    logger.msg("setup line")
    with sink.to(tmp_path / "01-dag.log"):
        logger.msg("task line")
        print("printed in a task", file=sink)
    logger.msg("between scenarios")
    saved_stdout = sys.stdout
    assert sink.install() is saved_stdout and sys.stdout is sink and sys.stderr is sink
    sink.close()  # uninstalls too
    assert sys.stdout is saved_stdout
    logger.msg("after close: dropped")  # late writes (atexit) must not fail

    assert (tmp_path / "setup.log").read_text() == "setup line\nbetween scenarios\n"
    assert (tmp_path / "01-dag.log").read_text() == "task line\nprinted in a task\n"
    assert not sink.isatty()


# --- import rules ----------------------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_local_modules_import_no_cycle_and_only_the_demo_imports_the_demo():
    files = {_module(p): p for p in (ROOT / "include" / "local").rglob("*.py")}
    graph = {name: {i for i in _imports(path) if i in files and i != name} for name, path in files.items()}

    def visit(name: str, stack: tuple[str, ...]) -> None:
        assert name not in stack, f"import cycle: {' -> '.join((*stack, name))}"
        for dep in graph[name]:
            visit(dep, (*stack, name))

    for name in graph:
        visit(name, ())
    demo = "include.local.demo"
    for name, deps in graph.items():
        if not name.startswith(demo):
            assert not {d for d in deps if d.startswith(demo)}, f"{name} imports the demo"


def test_tests_do_not_import_demo_code():
    this = Path(__file__).resolve()
    for path in (ROOT / "tests").rglob("*.py"):
        if path.resolve() == this:
            continue
        demo = {i for i in _imports(path) if i.startswith("include.local.demo")}
        assert not demo, f"{path.relative_to(ROOT)} imports {sorted(demo)}"
