"""Hostile and unlucky policy files (issue "Trust", defects 1-4, 6, 7): each gives a bounded
PolicyError naming the file and the key, fast, and nothing runs on a policy that would fail later.
"""

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
from backstop.policy.views import retention_rules

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_TEXT = DEFAULT_POLICY_PATH.read_text()
SHIPPED = yaml.safe_load(SHIPPED_TEXT)


def _changed(change) -> dict:
    data = copy.deepcopy(SHIPPED)
    change(data)
    return data


def _problems(data: dict) -> dict[str, str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, "policy.yaml")
    return dict(caught.value.problems)


def _bomb(levels: int = 8, fanout: int = 10) -> str:
    """The classic "billion laughs": each anchor is a list of `fanout` aliases of the previous."""
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * fanout)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines)


def _validate(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "backstop.policy", "validate", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,  # the defect: it ran past 120 s and 3 GB
    )


@pytest.mark.parametrize("key", ["version", "retries"])
def test_an_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path, key):
    bomb = _bomb()
    if key == "version":
        text = SHIPPED_TEXT.replace("version: 1", "version: *a8", 1)
    else:
        text = SHIPPED_TEXT.replace("    count: 2\n", "    count: *a8\n", 1)
    policy = tmp_path / "bomb.yaml"
    policy.write_text(bomb + "\n" + text)

    result = _validate(policy)

    assert result.returncode == 1, result.stderr[-2000:]
    assert str(policy) in result.stderr
    assert len(result.stderr) < 2000, len(result.stderr)


def test_an_alias_bomb_fails_the_loader_with_a_policy_error(tmp_path):
    policy = tmp_path / "bomb.yaml"
    policy.write_text(_bomb() + "\n" + SHIPPED_TEXT.replace("version: 1", "version: *a8", 1))
    with pytest.raises(PolicyError) as caught:
        load_policy(policy)
    assert len(str(caught.value)) < 2000


def test_a_non_utf8_file_is_a_policy_error(tmp_path):
    policy = tmp_path / "latin1.yaml"
    policy.write_bytes(SHIPPED_TEXT.replace("triflow-devops", "triflow-d\xe9vops").encode("latin-1"))
    with pytest.raises(PolicyError) as caught:
        load_policy(policy)
    assert "UTF-8" in str(caught.value) and str(policy) in str(caught.value)


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    policy = tmp_path / "huge.yaml"
    policy.write_text(SHIPPED_TEXT + "\n# " + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(policy)
    assert "MiB" in str(caught.value)


def test_an_overflowing_duration_is_a_policy_error():
    problems = _problems(_changed(lambda d: d["schedules"]["weekly"].update(max_age="99999999999d")))
    assert "schedules.weekly.max_age" in problems
    assert "at most" in problems["schedules.weekly.max_age"]


@pytest.mark.parametrize(
    ("where", "change"),
    [
        (
            "rds_snapshots[0].retention.keep[0].count",
            lambda d: d["rds_snapshots"][0]["retention"]["keep"][0].update(count=10**40),
        ),
        (
            "rds_snapshots[0].retention.min_keep",
            lambda d: d["rds_snapshots"][0]["retention"].update(min_keep=10**40),
        ),
        ("defaults.manual_snapshot_quota", lambda d: d["defaults"].update(manual_snapshot_quota=10**40)),
        ("defaults.retries.count", lambda d: d["defaults"]["retries"].update(count=True)),
        (
            "rds_snapshots[0].retention.keep[0].count",
            lambda d: d["rds_snapshots"][0]["retention"]["keep"][0].update(count=True),
        ),
    ],
)
def test_absurd_numbers_are_refused_with_the_allowed_range(where, change):
    problems = _problems(_changed(change))
    assert where in problems, problems
    assert len(problems[where]) < 300


@pytest.mark.parametrize("region", ["ap-northaest-2", "xx-fake-9"])
@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("defaults.region", lambda d, r: d["defaults"].update(region=r)),
        (
            "rds_snapshots[0].dr_regions[0].region",
            lambda d, r: d["rds_snapshots"][0]["dr_regions"][0].update(region=r),
        ),
        ("terraform_state.vault.region", lambda d, r: d["terraform_state"]["vault"].update(region=r)),
        (
            "terraform_state.vault.dr.region",
            lambda d, r: d["terraform_state"]["vault"]["dr"].update(region=r),
        ),
        ("drills[0].region", lambda d, r: d["drills"][0].update(region=r)),
    ],
)
def test_a_region_aws_does_not_have_is_refused(where, change, region):
    problems = _problems(_changed(lambda d: change(d, region)))
    assert where in problems, problems
    assert "ap-northeast-2" in problems[where]  # says what a region looks like


def test_a_cron_that_never_fires_is_refused():
    problems = _problems(_changed(lambda d: d["schedules"]["weekly"].update(cron="0 3 30 2 *")))
    assert "never" in problems["schedules.weekly.cron"]


def test_one_database_in_two_policies_of_a_tier_is_refused():
    def change(d):
        d["rds_snapshots"][1]["resources"].append({"type": "rds_instance", "id": "triflow-ai-staging-db"})

    problems = _problems(_changed(change))
    message = " ".join(problems.values())
    assert (
        "triflow-ai-staging-db" in message
        and "triflow-rds-weekly" in message
        and "triflow-aurora-weekly" in message
    )


def test_a_drill_dr_region_that_no_policy_copies_to_is_refused():
    problems = _problems(_changed(lambda d: d["drills"][1].update(dr_region="eu-west-1")))
    assert "drills[1].dr_region" in problems
    assert "no rds_snapshots policy copies" in problems["drills[1].dr_region"]


def test_a_drill_dr_region_equal_to_its_source_region_is_refused():
    problems = _problems(_changed(lambda d: d["drills"][1].update(dr_region="ap-northeast-2")))
    assert "drills[1].dr_region" in problems
    assert "source region" in problems["drills[1].dr_region"]


def test_the_stale_backup_halt_cannot_be_switched_off_by_omitting_max_age():
    """Without `max_age` the halt is derived from the cron (longest gap between fires + 1 day)."""
    policy = parse_policy(_changed(lambda d: d["schedules"]["weekly"].pop("max_age")))
    assert policy.schedules["weekly"].max_age == timedelta(days=8)
    assert all(rules is None or rules["max_staleness"] for rules in retention_rules(policy).values())
    monthly = parse_policy(SHIPPED).schedules["monthly-drill"].max_age
    assert monthly == timedelta(days=36)
