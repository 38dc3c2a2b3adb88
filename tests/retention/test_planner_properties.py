"""Properties of the retention planner over random fleets and random (sometimes broken) rules."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.naming import MANAGED_TAG, POLICY_TAG
from backstop.retention.planner import (
    PERIODS,
    RESTORE_VERIFIED_TAG,
    KeepRule,
    RetentionRules,
    SnapshotRecord,
    plan_retention,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
THREE_YEARS = 3 * 365 * 86400

SETTINGS = settings(max_examples=200, deadline=None)


# Weighted tables (repeats = weight), drawn from with one `sampled_from` each: a few draws per
# snapshot keep 1,200 examples of up to 60 snapshots inside the time budget. The weights favour
# a few big managed groups, because small groups never get past min_keep.
WHERE = list(
    itertools.product(
        ["instance"] * 6 + ["cluster"],  # db_type
        ["db-a"] * 3 + ["db-b"],  # resource
        ["us-east-1"] * 3 + ["ap-northeast-1"],  # region
        ["weekly"] * 8 + ["daily"] * 2 + ["unruled", None],  # policy ("unruled" has no rules entry)
    )
)
STATE = list(
    itertools.product(
        ["true"] * 6 + ["false", "True", None],  # backstop:managed
        ["manual"] * 6 + ["automated"],  # snapshot type
        ["available"] * 4 + ["creating", "failed"],  # status
        [None, None, "true", "false"],  # backstop:restore-verified
    )
)
snapshot_fields = st.tuples(st.sampled_from(WHERE), st.sampled_from(STATE), st.integers(0, THREE_YEARS)).map(
    lambda drawn: fields(*drawn[0], *drawn[1], NOW - timedelta(seconds=drawn[2]))
)


def fields(
    db_type, resource_id, region, policy, managed, snapshot_type, status, verified, created_at
) -> dict:
    """Everything about a snapshot except its identity (assigned once the list is drawn)."""
    tags = {MANAGED_TAG: managed, POLICY_TAG: policy, RESTORE_VERIFIED_TAG: verified}
    return {
        "db_type": db_type,
        "resource_id": resource_id,
        "region": region,
        "created_at": created_at,
        "status": status,
        "snapshot_type": snapshot_type,
        "tags": {k: v for k, v in tags.items() if v is not None},
    }


def make(index: int, fields: dict) -> SnapshotRecord:
    snapshot_id = f"snap-{index}"
    return SnapshotRecord(
        snapshot_id=snapshot_id,
        arn=f"arn:aws:rds:{fields['region']}:123456789012:snapshot:{snapshot_id}",
        **fields,
    )


# An explicit size: left alone, hypothesis draws mostly tiny lists, and tiny groups never prune.
snapshot_lists = (
    st.integers(0, 40)
    .flatmap(lambda n: st.lists(snapshot_fields, min_size=n, max_size=n))
    .map(lambda fs: [make(i, f) for i, f in enumerate(fs)])
)

ages = st.integers(1, 200).map(lambda d: timedelta(days=d))


def keep_rule(period: str):
    """Count, max age or both; mostly usable, so most groups really prune."""
    return st.one_of(
        st.builds(KeepRule, st.just(period), count=st.integers(1, 4)),
        st.builds(KeepRule, st.just(period), max_age=ages),
        st.builds(KeepRule, st.just(period), count=st.integers(1, 4), max_age=ages),
    )


retention_rules = st.builds(
    RetentionRules,
    keep=st.lists(st.sampled_from(PERIODS), unique=True, min_size=1, max_size=4).flatmap(
        lambda periods: st.tuples(*map(keep_rule, periods))
    ),
    min_keep=st.integers(1, 4),
    max_staleness=st.none() | st.integers(1, 400).map(lambda d: timedelta(days=d)),
    timezone=st.sampled_from(["UTC", "Asia/Seoul", "America/New_York"]),
)
broken_rules = st.sampled_from(
    [
        None,
        RetentionRules(keep=()),
        RetentionRules(keep=(KeepRule("weekly"),)),
        RetentionRules(keep=(KeepRule("daily", 1),), min_keep=0),
    ]
)


def mostly(good, bad, one_in: int):
    """`good`, except one time in `one_in`: `bad`."""
    return st.integers(1, one_in).flatmap(lambda i: bad if i == 1 else good)


rule_sets = st.fixed_dictionaries(
    {"weekly": mostly(retention_rules, broken_rules, 8), "daily": mostly(retention_rules, broken_rules, 3)}
)


def group_key(snapshot: SnapshotRecord):
    return (snapshot.db_type, snapshot.resource_id, snapshot.region, snapshot.policy)


@st.composite
def in_flight_sources(draw, snapshots):
    chosen = draw(st.lists(st.sampled_from(snapshots), unique_by=lambda s: s.arn)) if snapshots else []
    return {s.arn if draw(st.booleans()) else s.snapshot_id for s in chosen}


@SETTINGS
@given(snapshot_lists, rule_sets)
def test_never_fewer_than_min_keep_available_snapshots_per_group(snapshots, rules):
    plan = plan_retention(snapshots, rules, NOW)
    available = defaultdict(int)
    kept = defaultdict(int)
    for d in plan.decisions:
        if d.snapshot.managed and d.snapshot.available:
            available[group_key(d.snapshot)] += 1
            kept[group_key(d.snapshot)] += d.action == "keep"
    for key, count in available.items():
        policy_rules = rules.get(key[3])
        min_keep = policy_rules.min_keep if policy_rules else 2
        assert kept[key] >= min(min_keep, count), key


@SETTINGS
@given(snapshot_lists, rule_sets)
def test_never_deletes_an_unmanaged_or_automated_snapshot(snapshots, rules):
    plan = plan_retention(snapshots, rules, NOW)
    assert len(plan.decisions) == len(snapshots)
    for d in plan.decisions:
        if not (d.snapshot.tags.get(MANAGED_TAG) == "true" and d.snapshot.snapshot_type == "manual"):
            assert d.action == "ignore"
        if d.action == "delete":
            assert d.snapshot.available


@SETTINGS
@given(st.data(), snapshot_lists, rule_sets)
def test_the_plan_does_not_depend_on_input_order(data, snapshots, rules):
    in_flight = data.draw(in_flight_sources(snapshots))
    shuffled = data.draw(st.permutations(snapshots))
    first = plan_retention(snapshots, rules, NOW, in_flight_copy_sources=in_flight)
    second = plan_retention(shuffled, rules, NOW, in_flight_copy_sources=list(in_flight)[::-1])
    assert first.decisions == second.decisions
    assert first.groups == second.groups


@SETTINGS
@given(st.data(), snapshot_lists.filter(lambda ss: any(s.managed for s in ss)), rule_sets)
def test_adding_an_older_snapshot_never_gets_a_newer_one_deleted(data, snapshots, rules):
    in_flight = data.draw(in_flight_sources(snapshots))
    target = data.draw(st.sampled_from([s for s in snapshots if s.managed]))
    oldest = min(s.created_at for s in snapshots if s.managed and group_key(s) == group_key(target))
    extra_tags = dict(target.tags)
    extra_tags.pop(RESTORE_VERIFIED_TAG, None)
    if data.draw(st.booleans()):
        extra_tags[RESTORE_VERIFIED_TAG] = "true"
    older = make(
        len(snapshots),
        {
            "db_type": target.db_type,
            "resource_id": target.resource_id,
            "region": target.region,
            "created_at": oldest - timedelta(seconds=data.draw(st.integers(1, THREE_YEARS))),
            "status": data.draw(st.sampled_from(["available", "available", "failed"])),
            "snapshot_type": "manual",
            "tags": extra_tags,
        },
    )
    if data.draw(st.booleans()):
        in_flight = in_flight | {older.arn}

    before = {
        d.snapshot.arn: d.action
        for d in plan_retention(snapshots, rules, NOW, in_flight_copy_sources=in_flight).decisions
    }
    after = plan_retention([*snapshots, older], rules, NOW, in_flight_copy_sources=in_flight)
    for d in after.decisions:
        if d.snapshot.arn != older.arn and d.action == "delete":
            assert before[d.snapshot.arn] == "delete", d


@SETTINGS
@given(st.data(), snapshot_lists, rule_sets)
def test_sources_of_in_flight_copies_are_never_deleted(data, snapshots, rules):
    in_flight = data.draw(in_flight_sources(snapshots))
    plan = plan_retention(snapshots, rules, NOW, in_flight_copy_sources=in_flight)
    for d in plan.deletions:
        assert d.snapshot.arn not in in_flight and d.snapshot.snapshot_id not in in_flight


@SETTINGS
@given(snapshot_lists, rule_sets)
def test_halted_and_refused_groups_delete_nothing(snapshots, rules):
    plan = plan_retention(snapshots, rules, NOW)
    stopped = {(g.db_type, g.resource_id, g.region, g.policy) for g in plan.halted}
    assert all(g.status in ("halted", "refused") for g in plan.halted)
    for d in plan.deletions:
        assert group_key(d.snapshot) not in stopped
    # a group with no rule entry, or a None entry, is always refused
    for g in plan.groups:
        if g.policy is None or rules.get(g.policy) is None:
            assert g.status == "refused"
