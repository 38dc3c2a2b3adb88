"""Every DAG file imports cleanly, offline, with the conventions operators rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Loads dags/ in a fresh interpreter with every socket operation refused, so any network or
# database connection attempted at parse time becomes an import error.
_OFFLINE_PARSE = r"""
import json, socket, sys

attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args)[:200])
    raise OSError("network access during DAG parsing is not allowed")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(sys.argv[1])
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "tags": sorted(dag.tags),
        "owners": sorted({t.owner for t in dag.tasks}),
        "retries": sorted({t.retries for t in dag.tasks}),
        "callbacks": sorted({type(t.on_failure_callback[0]).__name__ if isinstance(t.on_failure_callback, list) else type(t.on_failure_callback).__name__ for t in dag.tasks}),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "timetable": repr(dag.timetable),
    }
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags, "sockets": attempts,
                  "boto3_imported": "boto3" in sys.modules}))
"""


def _parse(env_extra: dict | None = None) -> dict:
    env = {**os.environ, **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, "-c", _OFFLINE_PARSE, str(ROOT / "dags")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed():
    return _parse()


def test_dags_import_without_errors_or_network(parsed):
    assert parsed["errors"] == {}
    assert parsed["sockets"] == []
    assert "rds_weekly_snapshot" in parsed["dags"]


def test_parsing_does_not_import_boto3(parsed):
    assert parsed["boto3_imported"] is False  # heavy AWS imports happen in execute()


def test_every_dag_follows_the_conventions(parsed):
    for dag_id, dag in parsed["dags"].items():
        assert "backstop" in dag["tags"], dag_id
        assert dag["owners"] == ["triflow-devops"], dag_id
        if "resilience" in dag["tags"]:  # a drill that breaks something on purpose never retries itself
            assert set(dag["retries"]) <= {0, 2}, dag_id
        else:
            assert dag["retries"] == [2], dag_id
        assert dag["callbacks"] == ["SlackFailureNotifier"], dag_id
        assert dag["catchup"] is False, dag_id
        assert dag["max_active_runs"] == 1, dag_id


def test_invalid_policy_is_an_import_error_naming_file_and_key(tmp_path):
    bad = tmp_path / "bad_policy.yaml"
    text = (
        (ROOT / "include" / "backup_policy.yaml")
        .read_text()
        .replace("region: ap-northeast-2", "region: seoul", 1)
    )
    bad.write_text(text)
    parsed = _parse({"BACKSTOP_POLICY_FILE": str(bad)})
    assert parsed["dags"] == {}
    dag_files = sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    assert sorted(Path(f).name for f in parsed["errors"]) == dag_files  # every DAG file refuses
    for message in parsed["errors"].values():
        assert str(bad) in message
        assert "defaults.region: 'seoul' is not an AWS region" in message


def test_weekly_schedule_fires_sundays_0300_seoul():
    from airflow.sdk import CronTriggerTimetable
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.trigger import CronTriggerTimetable as SchedulerTimetable

    from backstop.airflow.dag_defaults import cron_timetable
    from backstop.policy import load_policy

    policy = load_policy()
    declared = cron_timetable(policy, "weekly")
    assert isinstance(declared, CronTriggerTimetable)
    # The scheduler's own implementation of the same timetable computes the run dates.
    timetable = SchedulerTimetable(declared.expression, timezone=declared.timezone)
    seoul = ZoneInfo("Asia/Seoul")
    last = None
    restriction = TimeRestriction(earliest=datetime(2026, 11, 21, tzinfo=seoul), latest=None, catchup=False)
    fires = []
    for _ in range(6):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        fires.append(info.run_after.astimezone(seoul))
        last = DataInterval(info.run_after, info.run_after)
    assert all(f.weekday() == 6 and (f.hour, f.minute) == (3, 0) for f in fires), fires
    assert fires[0].date().isoformat() == "2026-11-22"
