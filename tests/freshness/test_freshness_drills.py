"""Which drill a report key belongs to, and what a drill report becomes in a row (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from backstop.freshness.drills import _drill_of, drill_result


def test_the_longest_drill_name_wins_so_prefixes_do_not_steal_reports():
    names = ["production", "production-pitr", "production-dr-copy"]
    assert _drill_of("reports/drills/20261101/production-pitr-scheduled__x.json", names) == "production-pitr"
    assert _drill_of("reports/drills/20261101/production-scheduled__x.json", names) == "production"
    assert _drill_of("reports/drills/20261101/staging-pitr-manual__x.json", names) is None


def test_a_drill_report_becomes_name_verdict_time_and_measures():
    result = drill_result(
        "production-pitr",
        {
            "passed": True,
            "started_at": "2026-11-01T18:00:00Z",
            "finished_at": "2026-11-01T18:04:00Z",
            "rto_seconds": 240.0,
            "rpo_seconds": 12.5,
        },
    )
    assert result.passed and (result.rto_s, result.rpo_s) == (240.0, 12.5)
    assert result.at == datetime(2026, 11, 1, 18, 4, tzinfo=UTC)
    unfinished = drill_result(
        "d", {"passed": False, "started_at": "2026-11-01T18:00:00Z", "finished_at": None}
    )
    assert not unfinished.passed and unfinished.at == datetime(2026, 11, 1, 18, tzinfo=UTC)
