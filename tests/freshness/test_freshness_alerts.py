"""The pure alert state machine: stale once, reminders per interval, recovered once, retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backstop.freshness.alerts import AlertState, after_delivery, messages, plan_alerts
from backstop.freshness.evidence import FreshnessReport, FreshnessRow

T0 = datetime(2026, 11, 22, 3, tzinfo=UTC)
HOUR = 3600.0
REMINDER = 6 * HOUR
KEY = "p/rds_instance/db/ap-northeast-1"


def _report(status: str, at: datetime, reason: str = "why") -> FreshnessReport:
    row = FreshnessRow(
        policy="p",
        kind="rds_instance",
        resource_id="db",
        region="ap-northeast-1",
        role="dr",
        newest_backup_id=None,
        newest_backup_at=None,
        age_s=None,
        max_age_s=8 * 86400.0,
        rpo_s=None,
        status=status,
        reason=reason,
    )
    return FreshnessReport.of([row], at)


def _step(state: AlertState, status: str, at: datetime) -> tuple[AlertState, list[str]]:
    planned, events = plan_alerts(state, _report(status, at), {KEY: "#c"}, at, REMINDER)
    return planned, [e.kind for e in events]


def test_the_whole_life_of_a_stale_resource():
    state, kinds = _step(AlertState(), "green", T0)
    assert kinds == []
    state, kinds = _step(state, "red", T0 + timedelta(hours=1))
    assert kinds == ["stale"]
    state, kinds = _step(state, "red", T0 + timedelta(hours=2))
    assert kinds == []
    state, kinds = _step(state, "red", T0 + timedelta(hours=6, minutes=59))
    assert kinds == []  # 5h59m after the alert
    state, kinds = _step(state, "red", T0 + timedelta(hours=7))
    assert kinds == ["reminder"]
    state, kinds = _step(state, "red", T0 + timedelta(hours=8))
    assert kinds == []
    assert state.rows[KEY].since == T0 + timedelta(hours=1)
    state, kinds = _step(state, "amber", T0 + timedelta(hours=9))
    assert kinds == ["recovered"]
    state, kinds = _step(state, "green", T0 + timedelta(hours=10))
    assert kinds == []


def test_red_on_the_very_first_run_alerts():
    _, kinds = _step(AlertState(), "red", T0)
    assert kinds == ["stale"]


def test_amber_never_alerts():
    state, kinds = _step(AlertState(), "amber", T0)
    state, more = _step(state, "amber", T0 + timedelta(days=3))
    assert kinds == more == []


def test_an_undelivered_stale_alert_is_sent_again_next_run():
    previous = AlertState()
    planned, events = plan_alerts(previous, _report("red", T0), {KEY: "#c"}, T0, REMINDER)
    stored = after_delivery(previous, planned, events)
    assert stored.rows[KEY].alerted_at is None
    _, kinds = _step(stored, "red", T0 + timedelta(hours=1))
    assert kinds == ["stale"]


def test_an_undelivered_recovered_is_sent_again_and_nothing_is_said_of_what_nobody_heard():
    told, _ = _step(AlertState(), "red", T0)
    planned, events = plan_alerts(told, _report("green", T0 + timedelta(hours=1)), {KEY: "#c"}, T0, REMINDER)
    assert [e.kind for e in events] == ["recovered"]
    stored = after_delivery(told, planned, events)
    _, kinds = _step(stored, "green", T0 + timedelta(hours=2))
    assert kinds == ["recovered"]

    never_told = after_delivery(
        AlertState(), *plan_alerts(AlertState(), _report("red", T0), {KEY: "#c"}, T0, REMINDER)
    )
    _, kinds = _step(never_told, "green", T0 + timedelta(hours=1))
    assert kinds == []  # red but never announced: no "recovered" out of the blue


def test_one_message_per_channel_and_kind():
    _, events = plan_alerts(
        AlertState(), _report("red", T0, "no DR copy in ap-northeast-1"), {KEY: "#c"}, T0, REMINDER
    )
    ((channel, kind, group, text, blocks),) = messages(events, T0, "s3://b/freshness/runs/x.json", REMINDER)
    assert (channel, kind, len(group)) == ("#c", "stale", 1)
    assert text == "Backstop: backup stale: db (ap-northeast-1)"
    assert "no DR copy in ap-northeast-1" in str(blocks)
    assert "Reminders every 6h while stale" in str(blocks)
