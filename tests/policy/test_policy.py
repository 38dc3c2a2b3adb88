"""The policy model: the shipped file validates; bad files fail with the key path named."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from backstop.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy, parse_policy

SHIPPED = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def test_shipped_policy_validates():
    policy = load_policy(DEFAULT_POLICY_PATH)
    assert policy.defaults.timezone == "Asia/Seoul"
    assert policy.schedules["weekly"].cron == "0 3 * * 0"
    assert policy.snapshot_tiers() == ["weekly"]
    prod = policy.rds_snapshots[0]
    assert [r.id for r in prod.resources] == ["triflow-ai-production-db", "triflow-ai-staging-db"]
    assert prod.objectives.rpo == timedelta(minutes=5)
    assert prod.objectives.rto == timedelta(hours=1)
    assert policy.defaults.retries.delay == timedelta(minutes=5)


def _mutate(change):
    data = copy.deepcopy(SHIPPED)
    change(data)
    return data


def _set(path, value):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(path):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


BAD_POLICIES = [
    ("unknown top-level key", _set(["retention_days"], 7), "retention_days", "unknown key"),
    (
        "typo in a nested key",
        _set(["defaults", "slack", "chanel"], "#x"),
        "defaults.slack.chanel",
        "unknown key",
    ),
    ("wrong version", _set(["version"], 2), "version", "got 2"),
    ("bad region", _set(["defaults", "region"], "seoul"), "defaults.region", "'seoul' is not an AWS region"),
    ("bad timezone", _set(["defaults", "timezone"], "KST"), "defaults.timezone", "not an IANA time zone"),
    (
        "bad cron",
        _set(["schedules", "weekly", "cron"], "every sunday"),
        "schedules.weekly.cron",
        "not a cron",
    ),
    (
        "cron day-of-month OR day-of-week trap",
        _set(["schedules", "weekly", "cron"], "0 3 1-7 * 0"),
        "schedules.weekly.cron",
        "0#1",
    ),
    (
        "bad duration",
        _set(["defaults", "retries", "delay"], "five minutes"),
        "defaults.retries.delay",
        "duration",
    ),
    ("negative retries", _set(["defaults", "retries", "count"], -1), "defaults.retries.count", "got -1"),
    (
        "bad RDS identifier",
        _set(["rds_snapshots", 0, "resources", 0, "id"], "Prod_DB"),
        "rds_snapshots[0].resources[0].id",
        "not a valid RDS identifier",
    ),
    (
        "id and selector both given",
        _set(["rds_snapshots", 0, "resources", 0, "selector"], {"tags": {"a": "b"}}),
        "rds_snapshots[0].resources[0]",
        "exactly one of 'id'",
    ),
    (
        "unknown resource type",
        _set(["rds_snapshots", 0, "resources", 0, "type"], "dynamodb_table"),
        "rds_snapshots[0].resources[0].type",
        "dynamodb_table",
    ),
    (
        "tier without schedule",
        _set(["rds_snapshots", 0, "tier"], "fortnightly"),
        "rds_snapshots[0].tier",
        "not defined under 'schedules'",
    ),
    (
        "empty resource list",
        _set(["rds_snapshots", 0, "resources"], []),
        "rds_snapshots[0].resources",
        "at least 1",
    ),
    (
        "missing defaults.region",
        _delete(["defaults", "region"]),
        "defaults.region",
        "required key is missing",
    ),
    (
        "bad slack channel",
        _set(["defaults", "slack", "channel"], "triflow alerts"),
        "defaults.slack.channel",
        "not a Slack channel",
    ),
    (
        "DR region equal to source",
        _set(["rds_snapshots", 0, "dr_regions", 0, "region"], "ap-northeast-2"),
        "rds_snapshots[0].dr_regions",
        "source region",
    ),
    (
        "duplicate policy names",
        _set(["rds_snapshots", 1, "name"], "triflow-rds-weekly"),
        "rds_snapshots",
        "unique",
    ),
    ("bad bucket", _set(["defaults", "report_bucket"], "Reports_Bucket"), "defaults.report_bucket", "bucket"),
]


@pytest.mark.parametrize(
    ("label", "change", "key", "message"), BAD_POLICIES, ids=[b[0] for b in BAD_POLICIES]
)
def test_bad_policy_names_the_key_and_the_problem(label, change, key, message):
    with pytest.raises(PolicyError) as caught:
        parse_policy(_mutate(change), "include/backup_policy.yaml")
    text = str(caught.value)
    assert "include/backup_policy.yaml" in text
    assert f"{key}:" in text, text
    assert message in text, text


def test_yaml_syntax_error_names_the_line(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: 1\ndefaults:\n  region: [unclosed\n")
    with pytest.raises(PolicyError, match=r"policy.yaml:\n  - line \d+, column \d+: not valid YAML"):
        load_policy(bad)


def test_missing_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "absent.yaml")


def test_every_problem_is_reported_at_once():
    data = _mutate(_set(["defaults", "region"], "seoul"))
    data["defaults"]["timezone"] = "KST"
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert {p[0] for p in caught.value.problems} >= {"defaults.region", "defaults.timezone"}


def _validate(path: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "backstop.policy", "validate"] + ([str(path)] if path else [])
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'plugins'}{os.pathsep}{root}"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env, timeout=60)


def test_validate_command_accepts_the_shipped_policy():
    result = _validate()
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "triflow-rds-weekly" in result.stdout


def test_validate_command_rejects_a_bad_policy(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_mutate(_set(["rds_snapshots", 0, "tier"], "hourly"))))
    result = _validate(bad)
    assert result.returncode == 1
    assert "rds_snapshots[0].tier: 'hourly' is not defined under 'schedules'" in result.stderr
