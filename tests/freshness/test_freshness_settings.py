"""The policy's `freshness:` section: a safe default, strict bounds, errors naming the key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backstop.policy import PolicyError, parse_policy
from tests.dag_loading import shipped_policy


def test_the_default_reminder_is_a_day():
    assert parse_policy(shipped_policy()).freshness.reminder_every == timedelta(days=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", "freshness.reminder_every: got 1800s; expected a duration from 1h to 30d"),
        ("90d", "freshness.reminder_every: got 7776000s; expected a duration from 1h to 30d"),
        ("often", "freshness.reminder_every: "),
    ],
)
def test_a_reminder_outside_1h_to_30d_is_refused_naming_the_key(value, expected):
    policy = shipped_policy()
    policy["freshness"] = {"reminder_every": value}
    with pytest.raises(PolicyError) as caught:
        parse_policy(policy, "include/backup_policy.yaml")
    assert expected in str(caught.value)


def test_an_unknown_key_is_refused():
    policy = shipped_policy()
    policy["freshness"] = {"remind_every": "1h"}
    with pytest.raises(PolicyError, match=r"freshness.remind_every"):
        parse_policy(policy, "include/backup_policy.yaml")
