"""The pure status function: red only for stale or missing, amber for what deserves a look."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backstop.freshness.evidence import DrillResult
from backstop.freshness.status import Facts, assess

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
DAY = 86400.0


def _facts(age: timedelta | None = timedelta(days=1), **over) -> Facts:
    values = dict(
        role="source",
        region="ap-northeast-2",
        newest_backup_id="db-weekly-20261129",
        newest_backup_at=NOW - age if age is not None else None,
        max_age_s=8 * DAY,
        overdue_after_s=7 * DAY,
        rpo_s=300.0,
    )
    values.update(over)
    return Facts(**values)


def test_a_recent_backup_is_green_and_states_the_rpo_it_cannot_meet_alone():
    status, reason = assess(_facts(timedelta(days=1)), NOW)
    assert status == "green"
    assert "db-weekly-20261129 is 1d old (max_age 8d)" in reason
    assert "RPO 5m" in reason


def test_no_backup_is_red():
    assert assess(_facts(None, newest_backup_id=None), NOW) == (
        "red",
        "no available Backstop-managed backup in ap-northeast-2",
    )


def test_older_than_max_age_is_red_and_exactly_max_age_is_not():
    status, reason = assess(_facts(timedelta(days=8, hours=1)), NOW)
    assert status == "red"
    assert reason.startswith("stale: newest backup db-weekly-20261129 is 8d 1h old, over max_age 8d")
    assert assess(_facts(timedelta(days=8)), NOW)[0] != "red"


def test_overdue_within_max_age_is_amber_with_the_time_left():
    status, reason = assess(_facts(timedelta(days=7, hours=6)), NOW)
    assert status == "amber"
    assert "a newer one was due" in reason and "stale in 18h" in reason


def test_a_missing_dr_copy_is_red_and_names_what_should_be_there():
    status, reason = assess(
        _facts(
            None,
            role="dr",
            region="ap-northeast-1",
            newest_backup_id=None,
            source_backup_id="db-weekly-20261129",
            source_backup_at=NOW - timedelta(days=1),
        ),
        NOW,
    )
    assert status == "red"
    assert reason == "no DR copy in ap-northeast-1; the source's newest is db-weekly-20261129"


def test_a_dr_copy_behind_the_source_is_amber():
    status, reason = assess(
        _facts(
            timedelta(days=6),
            role="dr",
            region="ap-northeast-1",
            newest_backup_id="db-weekly-20261122",
            source_backup_id="db-weekly-20261129",
            source_backup_at=NOW - timedelta(hours=3),
        ),
        NOW,
    )
    assert status == "amber"
    assert "db-weekly-20261129 is not copied to ap-northeast-1 yet" in reason


def test_a_dr_copy_of_the_newest_source_backup_is_green():
    status, _ = assess(
        _facts(
            role="dr",
            newest_backup_id="db-weekly-20261129",
            source_backup_id="db-weekly-20261129",
            source_backup_at=NOW - timedelta(days=1),
        ),
        NOW,
    )
    assert status == "green"


def test_a_failed_latest_drill_is_amber_and_a_passed_one_changes_nothing():
    failed = DrillResult(name="production-pitr", passed=False, at=NOW - timedelta(days=2))
    status, reason = assess(_facts(last_drill=failed), NOW)
    assert status == "amber"
    assert "latest restore drill production-pitr FAILED on 2026-11-28" in reason
    passed = failed.model_copy(update={"passed": True})
    assert assess(_facts(last_drill=passed), NOW)[0] == "green"


def test_stale_wins_over_every_amber_reason():
    failed = DrillResult(name="d", passed=False, at=None)
    assert assess(_facts(timedelta(days=30), last_drill=failed), NOW)[0] == "red"


def test_a_backup_from_the_future_counts_as_age_zero():
    status, reason = assess(_facts(timedelta(minutes=-3)), NOW)
    assert status == "green" and "is 0s old" in reason
