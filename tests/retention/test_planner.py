"""The retention planner: one test per safety interlock, a realistic year, and the report formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backstop.naming import MANAGED_TAG, POLICY_TAG
from backstop.retention.planner import (
    RESTORE_VERIFIED_TAG,
    KeepRule,
    PlanAborted,
    RetentionRules,
    SnapshotRecord,
    format_duration,
    plan_retention,
    rule_problems,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KST = ZoneInfo("Asia/Seoul")
DAILY_1 = RetentionRules(keep=(KeepRule("daily", count=1),), min_keep=1)


def snap(
    snapshot_id: str,
    created_at: datetime | timedelta,
    *,
    resource: str = "db-a",
    region: str = "us-east-1",
    db_type: str = "instance",
    status: str = "available",
    snapshot_type: str = "manual",
    policy: str | None = "weekly",
    managed: str | None = "true",
    tags: dict[str, str] | None = None,
) -> SnapshotRecord:
    """A snapshot; `created_at` may be an age (a timedelta before NOW)."""
    when = NOW - created_at if isinstance(created_at, timedelta) else created_at
    all_tags = dict(tags or {})
    if managed is not None:
        all_tags[MANAGED_TAG] = managed
    if policy is not None:
        all_tags[POLICY_TAG] = policy
    return SnapshotRecord(
        snapshot_id=snapshot_id,
        arn=f"arn:aws:rds:{region}:123456789012:snapshot:{snapshot_id}",
        db_type=db_type,
        resource_id=resource,
        region=region,
        created_at=when,
        status=status,
        snapshot_type=snapshot_type,
        tags=all_tags,
    )


def by_id(plan):
    return {d.snapshot.snapshot_id: d for d in plan.decisions}


def days(n: float) -> timedelta:
    return timedelta(days=n)


def test_interlock_1_unmanaged_and_automated_snapshots_are_never_touched():
    snapshots = [
        snap("keep-me", days(1)),
        snap("old-managed", days(100)),
        snap("automated", days(400), snapshot_type="automated"),
        snap("unmanaged", days(400), managed=None),
        snap("not-exactly-true", days(400), managed="True"),
        snap("managed-false", days(400), managed="false"),
    ]
    plan = plan_retention(snapshots, {"weekly": DAILY_1}, NOW)
    decisions = by_id(plan)
    assert decisions["old-managed"].action == "delete"
    for name in ("automated", "unmanaged", "not-exactly-true", "managed-false"):
        assert decisions[name].action == "ignore"
        assert decisions[name].reason == "not managed by Backstop: never touched"
    assert [d.snapshot.snapshot_id for d in plan.deletions] == ["old-managed"]


def test_interlock_2_min_keep_keeps_the_newest_available_snapshots():
    rules = RetentionRules(keep=(KeepRule("daily", count=1),), min_keep=3)
    snapshots = [snap("failed", days(0.1), status="failed")] + [snap(f"s{i}", days(i)) for i in range(1, 6)]
    decisions = by_id(plan_retention(snapshots, {"weekly": rules}, NOW))
    assert decisions["s1"].reason == "daily #1 (2026-11-21)"
    for name in ("s2", "s3"):  # a failed snapshot does not count towards min_keep
        assert decisions[name].action == "keep"
        assert decisions[name].reason == "min_keep: the newest 3 available snapshots are kept"
    assert [decisions[n].action for n in ("s4", "s5")] == ["delete", "delete"]


def test_interlock_2_min_keep_is_not_undone_by_an_old_snapshot_another_rule_keeps():
    rules = RetentionRules(keep=(KeepRule("yearly", count=2),), min_keep=2)
    snapshots = [snap("new", days(1)), snap("newer-than-old", days(2)), snap("last-year", days(400))]
    decisions = by_id(plan_retention(snapshots, {"weekly": rules}, NOW))
    assert all(d.action == "keep" for d in decisions.values())
    assert decisions["last-year"].reason == "yearly #2 (2025)"


def test_interlock_3_stale_backups_halt_pruning_of_that_group():
    rules = RetentionRules(keep=(KeepRule("daily", count=1),), min_keep=1, max_staleness=days(8))
    stale = [
        snap("creating", days(0.1), status="creating"),  # a newer snapshot that is not available
        snap("newest-good", days(9) + timedelta(hours=2)),
        snap("older", days(16)),
    ]
    fresh = [snap(f"b{i}", days(i + 1), resource="db-b") for i in range(3)]
    plan = plan_retention(stale + fresh, {"weekly": rules}, NOW)
    decisions = by_id(plan)
    assert all(decisions[s.snapshot_id].action == "keep" for s in stale)
    assert decisions["older"].reason == "pruning halted: newest snapshot is 9d 2h old (max 8d)"
    [halted] = plan.halted
    assert (halted.resource_id, halted.status) == ("db-a", "halted")
    assert halted.message == "newest snapshot is 9d 2h old (max 8d): backups are failing; pruning stopped"
    assert {d.snapshot.snapshot_id for d in plan.deletions} == {"b1", "b2"}  # other groups still prune


def test_interlock_3_a_group_with_no_available_snapshot_is_halted():
    rules = RetentionRules(keep=(KeepRule("daily", count=1),), max_staleness=days(8))
    plan = plan_retention([snap("failed", days(1), status="failed")], {"weekly": rules}, NOW)
    assert [g.status for g in plan.halted] == ["halted"]
    assert "no available snapshot" in plan.halted[0].message


def test_interlock_4_a_snapshot_from_the_future_aborts_the_whole_run():
    snapshots = [snap("old", days(100)), snap("from-the-future", -timedelta(minutes=6), managed=None)]
    with pytest.raises(PlanAborted) as raised:
        plan_retention(snapshots, {"weekly": DAILY_1}, NOW)
    message = str(raised.value)
    assert "from-the-future" in message
    assert "2026-11-22T12:06:00+00:00" in message  # its time
    assert "2026-11-22T12:00:00+00:00" in message  # and now


def test_interlock_4_skew_within_tolerance_is_accepted():
    snapshots = [snap("slightly-ahead", -timedelta(minutes=4)), snap("old", days(100))]
    decisions = by_id(plan_retention(snapshots, {"weekly": DAILY_1}, NOW))
    assert decisions["slightly-ahead"].action == "keep"
    assert decisions["slightly-ahead"].age == -timedelta(minutes=4)
    assert decisions["old"].action == "delete"


def test_interlock_5_sources_of_in_flight_copies_are_kept():
    snapshots = [
        snap("new", days(1)),
        snap("by-arn", days(50)),
        snap("by-id", days(60)),
        snap("gone", days(70)),
    ]
    in_flight = {snapshots[1].arn, "by-id"}
    decisions = by_id(plan_retention(snapshots, {"weekly": DAILY_1}, NOW, in_flight_copy_sources=in_flight))
    for name in ("by-arn", "by-id"):
        assert decisions[name].action == "keep"
        assert decisions[name].reason == "source of a cross-region copy still in progress"
    assert decisions["gone"].action == "delete"


@pytest.mark.parametrize(
    ("rules", "policy", "problem"),
    [
        ({}, "weekly", "policy 'weekly' has no retention rules"),
        ({"weekly": None}, "weekly", "no retention rules"),
        ({"weekly": RetentionRules(keep=())}, "weekly", "keep lists no rules"),
        ({"weekly": RetentionRules(keep=(KeepRule("daily"),))}, "weekly", "daily rule keeps nothing"),
        ({"weekly": DAILY_1}, None, "no backstop:policy tag"),
    ],
    ids=["missing", "none", "empty", "contradictory", "untagged"],
)
def test_interlock_6_no_usable_rule_refuses_to_prune(rules, policy, problem):
    snapshots = [snap("new", days(1), policy=policy), snap("ancient", days(900), policy=policy)]
    plan = plan_retention(snapshots, rules, NOW)
    assert plan.deletions == []
    [group] = plan.halted
    assert group.status == "refused"
    assert problem in group.message
    for decision in plan.decisions:
        assert decision.action == "keep"
        assert decision.reason.startswith("no usable retention rule (")
        assert decision.reason.endswith("): refusing to prune")


def test_interlock_7_the_newest_restore_verified_snapshot_is_kept():
    verified = {RESTORE_VERIFIED_TAG: "true"}
    snapshots = [
        snap("new", days(1)),
        snap("verified-but-failed", days(5), status="failed", tags=verified),
        snap("newest-verified", days(30), tags=verified),
        snap("older-verified", days(60), tags=verified),
        snap("not-verified", days(90), tags={RESTORE_VERIFIED_TAG: "false"}),
    ]
    decisions = by_id(plan_retention(snapshots, {"weekly": DAILY_1}, NOW))
    assert decisions["newest-verified"].action == "keep"
    assert decisions["newest-verified"].reason == "newest restore-verified snapshot"
    assert decisions["older-verified"].action == "delete"
    assert decisions["not-verified"].action == "delete"


def test_snapshots_that_are_not_available_are_kept():
    snapshots = [snap("new", days(1)), snap("creating", days(40), status="creating")]
    decisions = by_id(plan_retention(snapshots, {"weekly": DAILY_1}, NOW))
    assert decisions["creating"].action == "keep"
    assert decisions["creating"].reason == "status creating: not pruned"


def test_a_snapshot_listed_twice_aborts_the_run():
    with pytest.raises(PlanAborted, match="listed twice"):
        plan_retention([snap("a", days(1)), snap("a", days(1))], {"weekly": DAILY_1}, NOW)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="time-zone aware"):
        snap("naive", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="time-zone aware"):
        plan_retention([], {}, datetime(2026, 1, 1))


def weekly_series() -> list[SnapshotRecord]:
    """A year of the weekly DAG: every Sunday 03:00 Asia/Seoul (Saturday 18:00 UTC)."""
    first = datetime(2025, 11, 23, 3, 0, tzinfo=KST)
    return [snap(f"w{first + timedelta(weeks=i):%Y%m%d}", first + timedelta(weeks=i)) for i in range(53)]


YEAR_RULES = RetentionRules(
    keep=(
        KeepRule("weekly", count=5, max_age=days(30)),
        KeepRule("monthly", count=12),
        KeepRule("yearly", count=7),
    ),
    timezone="Asia/Seoul",
)


def test_a_year_of_weekly_snapshots_keeps_the_expected_set():
    now = datetime(2026, 11, 23, 3, 0, tzinfo=KST)
    plan = plan_retention(weekly_series(), {"weekly": YEAR_RULES}, now)
    kept = {d.snapshot.snapshot_id for d in plan.decisions if d.action == "keep"}
    assert kept == {
        # weekly: the last five Sundays (the fifth is 29 days old, inside max_age 30d)
        "w20261122", "w20261115", "w20261108", "w20261101", "w20261025",
        # monthly: the last Sunday of each month back to December 2025 (twelve months)
        "w20260927", "w20260830", "w20260726", "w20260628", "w20260531",
        "w20260426", "w20260329", "w20260222", "w20260125", "w20251228",
    }  # fmt: skip
    assert len(plan.deletions) == 53 - 15
    assert [g.status for g in plan.groups] == ["pruned"]
    assert plan.groups[0].message == "keeping 15, deleting 38"


def test_reasons_say_which_rules_keep_a_snapshot_and_why_others_go():
    now = datetime(2026, 11, 23, 3, 0, tzinfo=KST)
    decisions = by_id(plan_retention(weekly_series(), {"weekly": YEAR_RULES}, now))
    assert decisions["w20261122"].reason == "weekly #1 (2026-W47), monthly #1 (2026-11), yearly #1 (2026)"
    assert decisions["w20251228"].reason == "monthly #12 (2025-12), yearly #2 (2025)"
    assert decisions["w20251130"].reason == (
        "not kept by any rule (weekly: 2025-W48 is #52, keeps 5; monthly: 2025-11 is #13, keeps 12; "
        "yearly: 2025 has a newer snapshot; not among the newest 2)"
    )
    age_limited = RetentionRules(keep=(KeepRule("weekly", max_age=days(10)),), min_keep=1)
    decisions = by_id(plan_retention(weekly_series(), {"weekly": age_limited}, now))
    assert "weekly: 2026-W45 is older than 10d" in decisions["w20261108"].reason


def test_timezone_decides_the_day_and_the_week():
    sunday_kst = datetime(2026, 11, 22, 2, 0, tzinfo=KST)  # Saturday 2026-11-21 17:00 UTC
    monday_kst = datetime(2026, 11, 23, 2, 0, tzinfo=KST)  # Sunday 2026-11-22 17:00 UTC, ISO week 47 in UTC
    now = datetime(2026, 11, 23, 12, 0, tzinfo=KST)
    snapshots = [snap("sunday", sunday_kst), snap("monday", monday_kst)]
    both = (KeepRule("daily", count=1), KeepRule("weekly", count=2))

    seoul = by_id(plan_retention(snapshots, {"weekly": RetentionRules(both, 1, timezone="Asia/Seoul")}, now))
    assert seoul["sunday"].reason == "weekly #2 (2026-W47)"
    assert seoul["monday"].reason == "daily #1 (2026-11-23), weekly #1 (2026-W48)"

    utc = by_id(plan_retention(snapshots, {"weekly": RetentionRules(both, 1, timezone="UTC")}, now))
    assert utc["monday"].reason == "daily #1 (2026-11-22), weekly #1 (2026-W47)"
    assert utc["sunday"].action == "delete"  # same UTC week as "monday", which represents it
    assert "daily: 2026-11-21 is #2, keeps 1" in utc["sunday"].reason


def test_decisions_are_sorted_region_resource_newest_first():
    snapshots = [
        snap("b-old", days(3), resource="db-b"),
        snap("a-old", days(3)),
        snap("tokyo", days(1), region="ap-northeast-1"),
        snap("a-new", days(1)),
        snap("a-new-twin", days(1)),
        snap("auto", days(2), snapshot_type="automated"),
    ]
    plan = plan_retention(snapshots, {"weekly": DAILY_1}, NOW)
    assert [d.snapshot.snapshot_id for d in plan.decisions] == [
        "tokyo",
        "a-new",
        "a-new-twin",
        "auto",
        "a-old",
        "b-old",
    ]


def test_to_json_is_serialisable_and_complete():
    snapshots = [snap("new", days(1)), snap("old", days(9)), snap("auto", days(2), snapshot_type="automated")]
    document = plan_retention(snapshots, {"weekly": DAILY_1}, NOW).to_json()
    text = json.dumps(document)
    assert json.loads(text) == document
    assert document["now"] == "2026-11-22T12:00:00+00:00"
    assert document["counts"] == {
        "snapshots": 3,
        "keep": 1,
        "delete": 1,
        "ignore": 1,
        "groups": {"pruned": 1, "halted": 0, "refused": 0},
    }
    old = next(d for d in document["decisions"] if d["snapshot_id"] == "old")
    assert old["arn"].endswith(":snapshot:old")
    assert old["created_at"] == "2026-11-13T12:00:00+00:00"
    assert (old["age_seconds"], old["age"], old["action"]) == (9 * 86400, "9d", "delete")


def test_table_has_a_header_and_one_row_per_snapshot():
    snapshots = [snap("new", days(1)), snap("old", days(9)), snap("auto", days(2), snapshot_type="automated")]
    plan = plan_retention(snapshots, {"weekly": DAILY_1}, NOW)
    lines = plan.table().splitlines()
    assert lines[0].split() == ["RESOURCE", "REGION", "SNAPSHOT", "AGE", "DECISION", "REASON"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + len(snapshots)
    assert lines[2].split()[:5] == ["db-a", "us-east-1", "new", "1d", "keep"]
    assert lines[2].index(" keep ") + 1 == lines[0].index("DECISION")  # columns line up
    assert plan.rows()[0] == {
        "resource": "db-a",
        "region": "us-east-1",
        "snapshot": "new",
        "age": "1d",
        "decision": "keep",
        "reason": "daily #1 (2026-11-21)",
    }


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (None, "no retention rules"),
        (RetentionRules(keep=()), "keep lists no rules"),
        (RetentionRules(keep=(KeepRule("weekly"),)), "weekly rule keeps nothing"),
        (RetentionRules(keep=(KeepRule("weekly", count=0),)), "weekly count must be a whole number >= 1"),
        (RetentionRules(keep=(KeepRule("weekly", max_age=timedelta(0)),)), "max_age must be a positive"),
        (RetentionRules(keep=(KeepRule("weekly", max_age=-days(1)),)), "max_age must be a positive"),
        (RetentionRules(keep=(KeepRule("daily", 1), KeepRule("daily", 2))), "period 'daily' listed twice"),
        (RetentionRules(keep=(KeepRule("daily", 1),), min_keep=0), "min_keep must be a whole number >= 1"),
        (RetentionRules(keep=(KeepRule("hourly", 1),)), "unknown period 'hourly'"),
        (RetentionRules(keep=(KeepRule("daily", 1),), timezone="Mars/Olympus"), "not an IANA time zone"),
        (RetentionRules(keep=(KeepRule("daily", 1),), max_staleness=timedelta(0)), "max_staleness must be"),
    ],
)
def test_rule_problems_catches_each_bad_rule(rules, problem):
    problems = rule_problems(rules)
    assert any(problem in p for p in problems), problems


def test_rule_problems_accepts_good_rules():
    assert rule_problems(YEAR_RULES) == []
    assert (
        rule_problems(RetentionRules(keep=(KeepRule("daily", max_age=days(7)),), max_staleness=days(2))) == []
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (days(9) + timedelta(hours=2, minutes=5), "9d 2h"),
        (days(8), "8d"),
        (timedelta(hours=5, minutes=3), "5h 3m"),
        (timedelta(minutes=12), "12m"),
        (timedelta(seconds=40), "40s"),
        (-timedelta(minutes=4), "-4m"),
    ],
)
def test_durations_read_like_a_person_would_write_them(value, text):
    assert format_duration(value) == text


def test_records_copy_their_tags():
    tags = {MANAGED_TAG: "true", POLICY_TAG: "weekly"}
    record = SnapshotRecord("s", "arn:s", "instance", "db", "us-east-1", NOW, "available", "manual", tags)
    tags[MANAGED_TAG] = "false"
    assert record.managed and record.policy == "weekly" and not record.restore_verified
    assert hash(record) == hash(
        SnapshotRecord("s", "arn:s", "instance", "db", "us-east-1", NOW, "available", "manual", {})
    )
