"""Names and tags: deterministic from the run date in the policy's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from backstop.naming import (
    MANAGED_TAG,
    NamingError,
    from_tag_list,
    is_managed,
    managed_tags,
    run_date,
    snapshot_name,
    to_tag_list,
)


def test_snapshot_name_matches_the_runbook_shape():
    assert snapshot_name("triflow-ai-production-db", "weekly", date(2026, 11, 22)) == (
        "triflow-ai-production-db-weekly-20261122"
    )


def test_sunday_0300_kst_is_named_for_sunday_not_saturday_utc():
    fire_time = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)  # = Sunday 2026-11-22 03:00 Asia/Seoul
    assert run_date({"logical_date": fire_time}, "Asia/Seoul") == date(2026, 11, 22)
    assert run_date({"logical_date": fire_time}, "UTC") == date(2026, 11, 21)


def test_manual_run_without_logical_date_uses_run_after():
    run = SimpleNamespace(run_after=datetime(2026, 11, 22, 1, 0, tzinfo=UTC))
    assert run_date({"logical_date": None, "dag_run": run}, "Asia/Seoul") == date(2026, 11, 22)


@pytest.mark.parametrize("bad", ["1db", "db--x", "x" * 250])
def test_invalid_names_are_refused(bad):
    with pytest.raises(NamingError):
        snapshot_name(bad, "weekly", date(2026, 1, 1))


def test_managed_tags_round_trip_and_sanitise():
    tags = managed_tags(policy="p", tier="weekly", run_id="manual__2026-11-22T03:00:00+00:00#1")
    assert is_managed(from_tag_list(to_tag_list(tags)))
    assert tags["backstop:run-id"] == "manual__2026-11-22T03:00:00+00:00_1"
    assert not is_managed({MANAGED_TAG: "True"})
    assert not is_managed({})
