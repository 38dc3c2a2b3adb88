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

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backstop.naming import POLICY_TAG, is_managed

RESTORE_VERIFIED_TAG = "backstop:restore-verified"

PERIODS = ("daily", "weekly", "monthly", "yearly")
KEEP, DELETE, IGNORE = "keep", "delete", "ignore"
PRUNED, HALTED, REFUSED = "pruned", "halted", "refused"


@dataclass(frozen=True)
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
        object.__setattr__(self, "tags", dict(self.tags))

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


@dataclass(frozen=True)
class Decision:
    snapshot: SnapshotRecord
    action: str  # KEEP | DELETE | IGNORE (ignore = never a candidate)
    reason: str
    age: timedelta


@dataclass(frozen=True)
class GroupOutcome:
    db_type: str
    resource_id: str
    region: str
    policy: str | None
    status: str  # PRUNED | HALTED | REFUSED
    message: str


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

    def rows(self) -> list[dict[str, str]]:
        return [
            {
                "resource": d.snapshot.resource_id,
                "region": d.snapshot.region,
                "snapshot": d.snapshot.snapshot_id,
                "age": format_duration(d.age),
                "decision": d.action,
                "reason": d.reason,
            }
            for d in self.decisions
        ]

    def table(self) -> str:
        """A fixed-width text table for the task log (the reason column is not padded)."""
        columns = ["resource", "region", "snapshot", "age", "decision", "reason"]
        rows = self.rows()
        widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in columns}

        def line(values: Mapping[str, str]) -> str:
            return "  ".join(values[c].ljust(widths[c]) for c in columns[:-1]) + "  " + values["reason"]

        header = line({c: c.upper() for c in columns})
        rule = line({c: "-" * widths[c] for c in columns[:-1]} | {"reason": "-" * len("REASON")})
        return "\n".join([header, rule, *(line(r) for r in rows)])

    def to_json(self) -> dict[str, Any]:
        """The plan as plain JSON types, for the report bucket."""
        actions = Counter(d.action for d in self.decisions)
        statuses = Counter(g.status for g in self.groups)
        return {
            "now": self.now.isoformat(),
            "counts": {
                "snapshots": len(self.decisions),
                **{action: actions[action] for action in (KEEP, DELETE, IGNORE)},
                "groups": {status: statuses[status] for status in (PRUNED, HALTED, REFUSED)},
            },
            "groups": [asdict(g) for g in self.groups],
            "decisions": [
                {
                    "snapshot_id": d.snapshot.snapshot_id,
                    "arn": d.snapshot.arn,
                    "db_type": d.snapshot.db_type,
                    "resource_id": d.snapshot.resource_id,
                    "region": d.snapshot.region,
                    "policy": d.snapshot.policy,
                    "status": d.snapshot.status,
                    "created_at": d.snapshot.created_at.isoformat(),
                    "age_seconds": int(d.age.total_seconds()),
                    "age": format_duration(d.age),
                    "action": d.action,
                    "reason": d.reason,
                }
                for d in self.decisions
            ],
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


def _bucket(period: str, local: datetime) -> tuple[tuple[int, ...], str]:
    """The calendar bucket of a local time: a sortable key and a label for reasons."""
    if period == "daily":
        return (local.year, local.month, local.day), f"{local:%Y-%m-%d}"
    if period == "weekly":
        year, week, _ = local.isocalendar()
        return (year, week), f"{year}-W{week:02d}"
    if period == "monthly":
        return (local.year, local.month), f"{local:%Y-%m}"
    return (local.year,), f"{local.year}"


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
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be time-zone aware")
    snapshots = list(snapshots)
    _check_input(snapshots, now, clock_skew)
    in_flight = frozenset(in_flight_copy_sources)

    decisions: list[Decision] = []
    groups: dict[tuple[str, str, str, str | None], list[SnapshotRecord]] = {}
    for s in snapshots:
        if s.managed:
            groups.setdefault((s.db_type, s.resource_id, s.region, s.policy), []).append(s)
        else:
            decisions.append(
                Decision(s, IGNORE, "not managed by Backstop: never touched", now - s.created_at)
            )

    outcomes: list[GroupOutcome] = []
    for key in sorted(groups, key=lambda k: (k[2], k[1], k[0], k[3] or "")):
        members = sorted(groups[key], key=_newest_first)
        decided, (status, message) = _plan_group(members, key[3], rules, now, in_flight)
        outcomes.append(GroupOutcome(*key, status=status, message=message))
        decisions.extend(Decision(s, *decided[s.arn], age=now - s.created_at) for s in members)

    decisions.sort(key=lambda d: _newest_first(d.snapshot))
    decisions.sort(key=lambda d: (d.snapshot.region, d.snapshot.resource_id))
    return Plan(now=now, decisions=decisions, groups=outcomes)


def _check_input(snapshots: list[SnapshotRecord], now: datetime, clock_skew: timedelta) -> None:
    """Interlock 4 (and duplicates): abort before planning anything."""
    future = [s for s in snapshots if s.created_at > now + clock_skew]
    if future:
        worst = max(future, key=lambda s: (s.created_at, s.snapshot_id, s.arn))
        raise PlanAborted(
            f"snapshot {worst.snapshot_id} ({worst.region}) was created at {worst.created_at.isoformat()}, "
            f"{format_duration(worst.created_at - now)} after now ({now.isoformat()}), beyond the "
            f"{format_duration(clock_skew)} clock skew tolerated; {len(future)} snapshot(s) from the "
            "future: a clock is wrong, so no age can be trusted and nothing is pruned"
        )
    seen: set[str] = set()
    for s in snapshots:
        if s.arn in seen:
            raise PlanAborted(
                f"snapshot {s.arn} is listed twice: the listing is inconsistent; nothing is pruned"
            )
        seen.add(s.arn)


def _plan_group(
    members: list[SnapshotRecord],
    policy: str | None,
    rules_by_policy: Mapping[str, RetentionRules | None],
    now: datetime,
    in_flight: frozenset[str],
) -> tuple[dict[str, tuple[str, str]], tuple[str, str]]:
    """(action, reason) per ARN and the group's (status, message). `members` is newest first."""
    # Interlock 6: no usable rule -> refuse.
    rules = rules_by_policy.get(policy) if policy is not None else None
    if policy is None:
        problems = [f"snapshot has no {POLICY_TAG} tag"]
    elif policy not in rules_by_policy:
        problems = [f"policy {policy!r} has no retention rules"]
    else:
        problems = rule_problems(rules)
    if problems or rules is None:
        why = f"no usable retention rule ({'; '.join(problems)}): refusing to prune"
        return dict.fromkeys((s.arn for s in members), (KEEP, why)), (REFUSED, why)

    # Interlock 3: backups are failing -> keep everything until they succeed again.
    available = [s for s in members if s.available]
    if rules.max_staleness is not None:
        limit = format_duration(rules.max_staleness)
        if not available:
            stale = f"no available snapshot (max age {limit})"
        elif now - available[0].created_at > rules.max_staleness:
            stale = f"newest snapshot is {format_duration(now - available[0].created_at)} old (max {limit})"
        else:
            stale = None
        if stale:
            why = f"pruning halted: {stale}"
            message = f"{stale}: backups are failing; pruning stopped"
            return dict.fromkeys((s.arn for s in members), (KEEP, why)), (HALTED, message)

    keep: dict[str, list[str]] = {s.arn: [] for s in members}
    missed: dict[str, list[str]] = {s.arn: [] for s in available}  # why each rule passed it over
    for s in members:
        if not s.available:
            keep[s.arn].append(f"status {s.status}: not pruned")
    zone = ZoneInfo(rules.timezone)
    local = {s.arn: s.created_at.astimezone(zone) for s in available}
    for rule in rules.keep:
        seen: set[tuple[int, ...]] = set()
        position = 0
        for s in available:  # newest first: the first snapshot of a bucket represents it
            key, label = _bucket(rule.period, local[s.arn])
            if key in seen:
                missed[s.arn].append(f"{rule.period}: {label} has a newer snapshot")
                continue
            seen.add(key)
            position += 1
            if rule.count is not None and position > rule.count:
                missed[s.arn].append(f"{rule.period}: {label} is #{position}, keeps {rule.count}")
            elif rule.max_age is not None and now - s.created_at > rule.max_age:
                missed[s.arn].append(f"{rule.period}: {label} is older than {format_duration(rule.max_age)}")
            else:
                keep[s.arn].append(f"{rule.period} #{position} ({label})")
    verified = next((s for s in available if s.restore_verified), None)
    if verified is not None:  # interlock 7
        keep[verified.arn].append("newest restore-verified snapshot")
    for s in members:  # interlock 5
        if s.arn in in_flight or s.snapshot_id in in_flight:
            keep[s.arn].append("source of a cross-region copy still in progress")
    for s in available[: rules.min_keep]:  # interlock 2
        # "The newest min_keep" rather than "top up to min_keep": topping up would let an old
        # snapshot kept by another rule push a newer one out, which the planner must never do.
        if not keep[s.arn]:
            keep[s.arn].append(f"min_keep: the newest {rules.min_keep} available snapshots are kept")

    decided: dict[str, tuple[str, str]] = {}
    for s in members:
        if keep[s.arn]:
            decided[s.arn] = (KEEP, ", ".join(keep[s.arn]))
        else:
            notes = "; ".join([*missed[s.arn], f"not among the newest {rules.min_keep}"])
            decided[s.arn] = (DELETE, f"not kept by any rule ({notes})")
    deleting = sum(1 for action, _ in decided.values() if action == DELETE)
    return decided, (PRUNED, f"keeping {len(members) - deleting}, deleting {deleting}")
