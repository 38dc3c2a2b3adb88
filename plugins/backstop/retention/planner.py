"""The retention planner: decides keep / delete for every snapshot, with a reason, and does no I/O.

`plan_retention` is the pure core of the `retention_prune` DAG. The DAG lists snapshots,
calls the planner, prints and stores the plan, and deletes `plan.deletions`. Everything that
makes pruning safe lives here, so it can be tested without AWS. The interlocks:

1. only manual snapshots tagged `backstop:managed=true` are candidates; the rest are ignored;
2. the newest `min_keep` available snapshots of every group are always kept;
3. a group whose newest available snapshot is older than `max_staleness` is not pruned at
   all (backups are failing: do not age out the last good ones);
4. a snapshot created more than `clock_skew` in the future aborts the whole plan;
5. a snapshot that is the source of a copy still in progress is kept;
6. a group without a usable rule is refused (everything kept) rather than guessed at;
7. the newest restore-verified snapshot of a group is kept.

A group is one resource in one region under one policy: (db_type, resource_id, region, policy).
When in doubt the planner keeps: every path that is not an explicit "delete" keeps.
"""

from __future__ import annotations

import gc
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backstop.naming import POLICY_TAG, RESTORE_VERIFIED_TAG, is_managed

PERIODS = ("daily", "weekly", "monthly", "yearly")
KEEP, DELETE, IGNORE = "keep", "delete", "ignore"
PRUNED, HALTED, REFUSED = "pruned", "halted", "refused"


def _shared(value: Any) -> Any:
    """One string object for repeated values (tag keys and values, regions, statuses).

    A listing parses every string afresh; at a million snapshots the copies of "true",
    "backstop:managed" and the region names would cost hundreds of megabytes.
    """
    return sys.intern(value) if type(value) is str else value


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One RDS DB or cluster snapshot as the lister saw it (tags included, so no call per snapshot)."""

    snapshot_id: str
    arn: str
    db_type: str  # "instance" | "cluster"
    resource_id: str
    region: str
    created_at: datetime
    status: str
    snapshot_type: str
    # A private copy: the record stays unchanged even if the caller reuses its dict. Left out
    # of the hash (dicts are unhashable) but part of equality.
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            # Ages and calendar buckets are meaningless without a zone.
            raise ValueError(f"snapshot {self.snapshot_id}: created_at must be time-zone aware")
        set_ = object.__setattr__
        set_(self, "tags", {_shared(k): _shared(v) for k, v in self.tags.items()})
        for name in ("db_type", "resource_id", "region", "status", "snapshot_type"):
            set_(self, name, _shared(getattr(self, name)))

    @classmethod
    def from_info(cls, info: Any, region: str, db_type: str, listed_at: datetime) -> SnapshotRecord:
        """The record of a `backstop.aws.rds_snapshots.SnapshotInfo` listed in `region`.

        A snapshot without a create time (still starting) counts as made when it was listed.
        """
        return cls(
            snapshot_id=info.snapshot_id,
            arn=info.arn,
            db_type=db_type,
            resource_id=info.source_id,
            region=region,
            created_at=info.created_at or listed_at,
            status=info.status,
            snapshot_type=(info.snapshot_type or "manual").lower(),
            tags=info.tags,
        )

    @property
    def managed(self) -> bool:
        """Backstop made it: the managed tag, and manual (RDS owns automated snapshots)."""
        return is_managed(self.tags) and self.snapshot_type == "manual"

    @property
    def restore_verified(self) -> bool:
        return self.tags.get(RESTORE_VERIFIED_TAG) == "true"

    @property
    def policy(self) -> str | None:
        return self.tags.get(POLICY_TAG)

    @property
    def available(self) -> bool:
        return self.status == "available"


@dataclass(frozen=True)
class KeepRule:
    """Keep the newest `count` period representatives and/or those no older than `max_age`."""

    period: str  # one of PERIODS
    count: int | None = None
    max_age: timedelta | None = None


@dataclass(frozen=True)
class RetentionRules:
    """One policy's retention: keep rules plus the safety settings."""

    keep: tuple[KeepRule, ...]
    min_keep: int = 2
    max_staleness: timedelta | None = None
    timezone: str = "UTC"  # calendar days / ISO weeks / months / years are taken in this zone


def rules_from_dict(value: dict[str, Any] | None) -> RetentionRules | None:
    """Rebuild RetentionRules from the plain dict the DAG file passes (None: no rules)."""
    if not value:
        return None
    keep = tuple(
        KeepRule(
            period=rule["period"],
            count=rule.get("count"),
            max_age=timedelta(seconds=rule["max_age"]) if rule.get("max_age") is not None else None,
        )
        for rule in value.get("keep", [])
    )
    staleness = value.get("max_staleness")
    return RetentionRules(
        keep=keep,
        min_keep=value.get("min_keep", 2),
        max_staleness=timedelta(seconds=staleness) if staleness is not None else None,
        timezone=value.get("timezone", "UTC"),
    )


def rule_problems(rules: RetentionRules | None) -> list[str]:
    """Why these rules must not be used ([] if they are fine).

    The policy model validates the same things; this is the planner's own check, because a
    rule that slipped through would delete snapshots, and refusing is always safe.
    """
    if rules is None:
        return ["no retention rules"]
    problems: list[str] = []
    if not rules.keep:
        problems.append("keep lists no rules")
    seen: set[str] = set()
    for rule in rules.keep or ():
        if rule.period not in PERIODS:
            problems.append(f"unknown period {rule.period!r} (expected one of {', '.join(PERIODS)})")
        elif rule.period in seen:
            problems.append(f"period {rule.period!r} listed twice")
        seen.add(rule.period)
        if rule.count is None and rule.max_age is None:
            problems.append(f"{rule.period} rule keeps nothing: give count, max_age or both")
        if rule.count is not None and (
            isinstance(rule.count, bool) or not isinstance(rule.count, int) or rule.count < 1
        ):
            problems.append(f"{rule.period} count must be a whole number >= 1, got {rule.count!r}")
        if rule.max_age is not None and (
            not isinstance(rule.max_age, timedelta) or rule.max_age <= timedelta(0)
        ):
            problems.append(f"{rule.period} max_age must be a positive duration, got {rule.max_age!r}")
    if isinstance(rules.min_keep, bool) or not isinstance(rules.min_keep, int) or rules.min_keep < 1:
        problems.append(f"min_keep must be a whole number >= 1, got {rules.min_keep!r}")
    if rules.max_staleness is not None and (
        not isinstance(rules.max_staleness, timedelta) or rules.max_staleness <= timedelta(0)
    ):
        problems.append(f"max_staleness must be a positive duration, got {rules.max_staleness!r}")
    try:
        ZoneInfo(rules.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        problems.append(f"{rules.timezone!r} is not an IANA time zone")
    return problems


class PlanAborted(Exception):
    """The input cannot be trusted (clock skew, duplicates): the whole run stops, nothing is deleted."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the planner decided for one snapshot and why; `age` is worked out from `now` when read."""

    snapshot: SnapshotRecord
    action: str  # KEEP | DELETE | IGNORE (ignore = never a candidate)
    reason: str
    now: datetime = field(repr=False)

    @property
    def age(self) -> timedelta:
        return self.now - self.snapshot.created_at

    def row(self) -> dict[str, str]:
        """The table row: resource, region, snapshot, age, decision, reason."""
        s = self.snapshot
        return {
            "resource": s.resource_id,
            "region": s.region,
            "snapshot": s.snapshot_id,
            "age": format_duration(self.age),
            "decision": self.action,
            "reason": self.reason,
        }

    def to_json(self) -> dict[str, Any]:
        """The decision as plain JSON types: one entry of the report's `decisions`."""
        s = self.snapshot
        age = self.age
        return {
            "snapshot_id": s.snapshot_id,
            "arn": s.arn,
            "db_type": s.db_type,
            "resource_id": s.resource_id,
            "region": s.region,
            "policy": s.policy,
            "status": s.status,
            "created_at": s.created_at.isoformat(),
            "age_seconds": int(age.total_seconds()),
            "age": format_duration(age),
            "action": self.action,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    db_type: str
    resource_id: str
    region: str
    policy: str | None
    status: str  # PRUNED | HALTED | REFUSED
    message: str


TABLE_COLUMNS = ("resource", "region", "snapshot", "age", "decision", "reason")


@dataclass
class Plan:
    """The planner's output: one decision per input snapshot and one outcome per group."""

    now: datetime
    decisions: list[Decision]
    groups: list[GroupOutcome]

    @property
    def deletions(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == DELETE]

    @property
    def halted(self) -> list[GroupOutcome]:
        """Groups the caller must alert about: pruning stopped or refused."""
        return [g for g in self.groups if g.status in (HALTED, REFUSED)]

    def counts(self) -> dict[str, Any]:
        """Snapshots per action and groups per status (the report's and the XCom's `counts`)."""
        actions = Counter(d.action for d in self.decisions)
        statuses = Counter(g.status for g in self.groups)
        return {
            "snapshots": len(self.decisions),
            **{action: actions[action] for action in (KEEP, DELETE, IGNORE)},
            "groups": {status: statuses[status] for status in (PRUNED, HALTED, REFUSED)},
        }

    def rows(self) -> list[dict[str, str]]:
        return [d.row() for d in self.decisions]

    def table_lines(self, actions: Collection[str] = (KEEP, DELETE, IGNORE)) -> Iterator[str]:
        """The table one line at a time (header, rule, a row per decision with one of `actions`).

        Two passes over the decisions (widths, then lines) instead of a list of rows: a plan of a
        million snapshots prints without holding its table in memory.
        """
        shown = [d for d in self.decisions if d.action in actions]
        widths = dict.fromkeys(TABLE_COLUMNS[:-1], 0)
        for d in shown:
            s = d.snapshot
            for column, value in (
                ("resource", s.resource_id),
                ("region", s.region),
                ("snapshot", s.snapshot_id),
                ("age", format_duration(d.age)),
                ("decision", d.action),
            ):
                if len(value) > widths[column]:
                    widths[column] = len(value)
        widths = {c: max(len(c), w) for c, w in widths.items()}

        def line(values: Mapping[str, str]) -> str:
            return "  ".join(values[c].ljust(widths[c]) for c in TABLE_COLUMNS[:-1]) + "  " + values["reason"]

        yield line({c: c.upper() for c in TABLE_COLUMNS})
        yield line({c: "-" * widths[c] for c in TABLE_COLUMNS[:-1]} | {"reason": "-" * len("REASON")})
        for d in shown:
            yield line(d.row())

    def table(self) -> str:
        """A fixed-width text table for the task log (the reason column is not padded)."""
        return "\n".join(self.table_lines())

    def to_json(self) -> dict[str, Any]:
        """The plan as plain JSON types in one document (small plans; the report streams instead)."""
        return {
            "now": self.now.isoformat(),
            "counts": self.counts(),
            "groups": [asdict(g) for g in self.groups],
            "decisions": [d.to_json() for d in self.decisions],
        }


def format_duration(value: timedelta) -> str:
    """Two units at most ("9d 2h", "5h 3m", "12m", "40s"): enough to read an age in a table."""
    seconds = int(value.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days}d {hours}h" if hours else f"{days}d"
    elif hours:
        text = f"{hours}h {minutes}m" if minutes else f"{hours}h"
    elif minutes:
        text = f"{minutes}m"
    else:
        text = f"{rest}s"
    return sign + text


PERIOD_INDEX = {period: index for index, period in enumerate(PERIODS)}
# (bucket key, label) per period, in PERIODS order, for one local calendar date
Calendar = tuple[tuple[Any, str], ...]


def _calendar(day: date) -> Calendar:
    """The day / ISO week / month / year a local date falls in: sortable keys and labels for reasons."""
    year, week, _ = day.isocalendar()
    return (
        (day.toordinal(), f"{day:%Y-%m-%d}"),
        ((year, week), f"{year}-W{week:02d}"),
        ((day.year, day.month), f"{day:%Y-%m}"),
        (day.year, f"{day.year}"),
    )


def _newest_first(snapshot: SnapshotRecord) -> tuple[float, str, str]:
    """Sort key: newest first, ties broken by id then ARN so the order never depends on the input."""
    return (-snapshot.created_at.timestamp(), snapshot.snapshot_id, snapshot.arn)


def plan_retention(
    snapshots: Iterable[SnapshotRecord],
    rules: Mapping[str, RetentionRules | None],
    now: datetime,
    *,
    in_flight_copy_sources: Collection[str] = (),
    clock_skew: timedelta = timedelta(minutes=5),
) -> Plan:
    """Decide keep / delete / ignore for every snapshot; see the module docstring for the interlocks.

    Raises PlanAborted when the input cannot be trusted: a snapshot from the future (clock
    skew) or the same ARN listed twice (a duplicate would count twice towards min_keep).

    Decisions come sorted by region, resource, newest first (ties by id, then ARN); groups by
    region, resource, kind, policy. The work is done one resource at a time, so what the
    planner holds besides its input and output is the size of one resource's snapshots.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be time-zone aware")
    with _collector_paused():
        return _plan(snapshots, rules, now, frozenset(in_flight_copy_sources), clock_skew)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while planning (restored after, even on error).

    The planner makes a million small objects for a million snapshots and no reference cycles;
    left running, the collector walks every input record again each time it collects the oldest
    generation, which took about a third of the planning time at a million snapshots.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan(
    snapshots: Iterable[SnapshotRecord],
    rules: Mapping[str, RetentionRules | None],
    now: datetime,
    in_flight: frozenset[str],
    clock_skew: timedelta,
) -> Plan:
    places = _check_and_place(snapshots, now, clock_skew)
    planning = _Planning(rules, now, in_flight)

    decisions: list[Decision] = []
    outcomes: list[GroupOutcome] = []
    for place in sorted(places):
        members = places.pop(place)
        members.sort(key=_newest_first)
        actions: list[str] = [IGNORE] * len(members)
        reasons: list[str] = [IGNORED] * len(members)
        groups: dict[tuple[str, str | None], list[int]] = {}
        for index, s in enumerate(members):
            if s.managed:
                key = (s.db_type, s.policy)
                if key in groups:
                    groups[key].append(index)
                else:
                    groups[key] = [index]
        for db_type, policy in sorted(groups, key=lambda k: (k[0], k[1] or "", k[1] is not None)):
            indices = groups[db_type, policy]
            status, message = planning.plan_group(
                [members[i] for i in indices], policy, indices, actions, reasons
            )
            outcomes.append(GroupOutcome(db_type, place[1], place[0], policy, status, message))
        decisions.extend(map(Decision, members, actions, reasons, repeat(now, len(members))))
    return Plan(now=now, decisions=decisions, groups=outcomes)


IGNORED = "not managed by Backstop: never touched"


def _check_and_place(
    snapshots: Iterable[SnapshotRecord], now: datetime, clock_skew: timedelta
) -> dict[tuple[str, str], list[SnapshotRecord]]:
    """Interlock 4 (and duplicates) in one pass, sorting the snapshots by (region, resource) as it goes."""
    limit = now + clock_skew
    places: dict[tuple[str, str], list[SnapshotRecord]] = {}
    seen: set[str] = set()
    future: list[SnapshotRecord] = []
    duplicate: SnapshotRecord | None = None
    for s in snapshots:
        if s.created_at > limit:
            future.append(s)
        if s.arn in seen:
            duplicate = duplicate or s
        else:
            seen.add(s.arn)
        place = (s.region, s.resource_id)
        if place in places:
            places[place].append(s)
        else:
            places[place] = [s]
    if future:
        worst = max(future, key=lambda s: (s.created_at, s.snapshot_id, s.arn))
        raise PlanAborted(
            f"snapshot {worst.snapshot_id} ({worst.region}) was created at {worst.created_at.isoformat()}, "
            f"{format_duration(worst.created_at - now)} after now ({now.isoformat()}), beyond the "
            f"{format_duration(clock_skew)} clock skew tolerated; {len(future)} snapshot(s) from the "
            "future: a clock is wrong, so no age can be trusted and nothing is pruned"
        )
    if duplicate is not None:
        raise PlanAborted(
            f"snapshot {duplicate.arn} is listed twice: the listing is inconsistent; nothing is pruned"
        )
    return places


class _Planning:
    """What one plan_retention call shares between groups: rules checked once per policy, the
    calendar of each local date worked out once, and one string object per distinct reason."""

    __slots__ = ("calendars", "in_flight", "now", "policies", "reasons", "rules")

    def __init__(
        self, rules: Mapping[str, RetentionRules | None], now: datetime, in_flight: frozenset[str]
    ) -> None:
        self.rules = rules
        self.now = now
        self.in_flight = in_flight
        self.policies: dict[str | None, tuple[RetentionRules | None, ZoneInfo | None, str | None]] = {}
        self.calendars: dict[int, Calendar] = {}
        self.reasons: dict[str, str] = {}

    def policy(self, policy: str | None) -> tuple[RetentionRules | None, ZoneInfo | None, str | None]:
        """(rules, zone, None) for a usable policy, or (None, None, why it is refused). Interlock 6."""
        if policy not in self.policies:
            rules = self.rules.get(policy) if policy is not None else None
            if policy is None:
                problems = [f"snapshot has no {POLICY_TAG} tag"]
            elif policy not in self.rules:
                problems = [f"policy {policy!r} has no retention rules"]
            else:
                problems = rule_problems(rules)
            if problems or rules is None:
                why = f"no usable retention rule ({'; '.join(problems)}): refusing to prune"
                self.policies[policy] = (None, None, why)
            else:
                self.policies[policy] = (rules, ZoneInfo(rules.timezone), None)
        return self.policies[policy]

    def calendar(self, created_at: datetime, zone: ZoneInfo) -> Calendar:
        local = created_at.astimezone(zone)
        ordinal = local.toordinal()
        found = self.calendars.get(ordinal)
        if found is None:
            found = self.calendars[ordinal] = _calendar(local.date())
        return found

    def plan_group(
        self,
        members: list[SnapshotRecord],
        policy: str | None,
        slots: list[int],
        actions: list[str],
        reasons: list[str],
    ) -> tuple[str, str]:
        """Write (action, reason) of `members[i]` to `actions[slots[i]]`, `reasons[slots[i]]`;
        return the group's (status, message). `members` is newest first."""
        rules, zone, refused = self.policy(policy)
        if refused is not None or rules is None or zone is None:  # interlock 6
            why = refused or "no usable retention rule: refusing to prune"
            for slot in slots:
                actions[slot], reasons[slot] = KEEP, why
            return REFUSED, why

        now = self.now
        # Positions in `members` of the available snapshots, newest first.
        available = [i for i, s in enumerate(members) if s.status == "available"]
        if rules.max_staleness is not None:  # interlock 3: backups are failing -> keep everything
            limit = format_duration(rules.max_staleness)
            if not available:
                stale = f"no available snapshot (max age {limit})"
            elif now - members[available[0]].created_at > rules.max_staleness:
                age = format_duration(now - members[available[0]].created_at)
                stale = f"newest snapshot is {age} old (max {limit})"
            else:
                stale = None
            if stale:
                why = f"pruning halted: {stale}"
                for slot in slots:
                    actions[slot], reasons[slot] = KEEP, why
                return HALTED, f"{stale}: backups are failing; pruning stopped"

        keep: list[list[str]] = [[] for _ in members]
        missed: list[list[str]] = [[] for _ in members]  # why each rule passed it over
        for i, s in enumerate(members):
            if s.status != "available":
                keep[i].append(f"status {s.status}: not pruned")
        calendars = [self.calendar(members[i].created_at, zone) for i in available]
        for rule in rules.keep:
            period, p = rule.period, PERIOD_INDEX[rule.period]
            max_age = rule.max_age
            seen: set[Any] = set()
            position = 0
            for i, calendar in zip(available, calendars, strict=True):
                key, label = calendar[p]  # newest first: the first snapshot of a bucket represents it
                if key in seen:
                    missed[i].append(f"{period}: {label} has a newer snapshot")
                    continue
                seen.add(key)
                position += 1
                if rule.count is not None and position > rule.count:
                    missed[i].append(f"{period}: {label} is #{position}, keeps {rule.count}")
                elif max_age is not None and now - members[i].created_at > max_age:
                    missed[i].append(f"{period}: {label} is older than {format_duration(max_age)}")
                else:
                    keep[i].append(f"{period} #{position} ({label})")
        verified = next((i for i in available if members[i].restore_verified), None)
        if verified is not None:  # interlock 7
            keep[verified].append("newest restore-verified snapshot")
        for i, s in enumerate(members):  # interlock 5
            if s.arn in self.in_flight or s.snapshot_id in self.in_flight:
                keep[i].append("source of a cross-region copy still in progress")
        for i in available[: rules.min_keep]:  # interlock 2
            # "The newest min_keep" rather than "top up to min_keep": topping up would let an old
            # snapshot kept by another rule push a newer one out, which the planner must never do.
            if not keep[i]:
                keep[i].append(f"min_keep: the newest {rules.min_keep} available snapshots are kept")

        not_newest = f"not among the newest {rules.min_keep}"
        shared = self.reasons.setdefault
        deleting = 0
        for i, slot in enumerate(slots):
            if keep[i]:
                actions[slot] = KEEP
                reason = ", ".join(keep[i])
            else:
                actions[slot] = DELETE
                deleting += 1
                reason = f"not kept by any rule ({'; '.join([*missed[i], not_newest])})"
            reasons[slot] = shared(reason, reason)
        return PRUNED, f"keeping {len(members) - deleting}, deleting {deleting}"
