"""Freshness sources by resource kind: how the monitor learns what to check and how to check it.

A source is one module in `backstop/freshness/sources/` that calls `register(...)` at import
with an object giving the resource kinds it handles, `targets(policy)` (what the policy
protects, computed at parse time, no I/O) and `collect(targets, env)` (one `Facts` per target
and region, at run time). The monitor imports every module in that folder, so adding
DynamoDB, ElastiCache or S3 is one new module; nothing else changes. Source modules must stay
light at import (no boto3): the DAG file imports them while parsing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pydantic models: not built at parse time
    from backstop.freshness.evidence import DrillResult, Role
    from backstop.freshness.status import Facts

SOURCES_PACKAGE = "backstop.freshness.sources"
_SOURCES_DIR = Path(__file__).parent / "sources"


@dataclass(frozen=True)
class Target:
    """One protected resource (or selector) of one policy, with its freshness limits.

    `regions` lists where a backup belongs: the source region first, then the DR regions.
    `spec` is the source's own data (e.g. {"db_type": "instance", "selector": {...}}).
    `overdue_after_s` may be left None at parse time and worked out by the source at run time
    (the RDS source derives it from the schedule's cron, which is too slow to do while parsing).
    """

    policy: str
    kind: str
    resource: str  # the resource id, or a readable form of the selector
    regions: tuple[str, ...]
    max_age_s: float
    overdue_after_s: float | None
    rpo_s: float | None
    channel: str
    spec: Mapping[str, Any] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "kind": self.kind,
            "resource": self.resource,
            "regions": list(self.regions),
            "max_age_s": self.max_age_s,
            "overdue_after_s": self.overdue_after_s,
            "rpo_s": self.rpo_s,
            "channel": self.channel,
            "spec": dict(self.spec),
        }

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> Target:
        return cls(**{**data, "regions": tuple(data["regions"]), "spec": dict(data.get("spec") or {})})

    def role_of(self, region: str) -> Role:
        return "source" if region == self.regions[0] else "dr"


@dataclass(frozen=True)
class Found:
    """One row's facts for one resource in one region, as a source reports them."""

    target: Target
    resource_id: str
    facts: Facts
    newest_verified_backup_id: str | None = None
    # Set when the resource could not be checked at all: the row is red with this reason.
    unchecked: str | None = None
    # Set by a source that judges its rows itself (status, reason), e.g. resilience drills,
    # whose "backup" is a drill report and whose words differ; None: status.assess decides.
    assessed: tuple[str, str] | None = None


class Environment(Protocol):
    """What a source may use at run time."""

    now: datetime

    def client(self, service: str, region: str) -> Any:
        """A boto3 client from the monitor's Airflow connection (or the caller's factory)."""

    def last_drill(self, resource_id: str, region: str) -> DrillResult | None:
        """The latest restore drill of `resource_id` restored in `region`, if any."""

    def problem(self, text: str) -> None:
        """Record something the source could not check (it appears in the report)."""


class FreshnessSource(Protocol):
    kinds: tuple[str, ...]

    def targets(self, policy: Any) -> list[Target]: ...

    def collect(self, targets: list[Target], env: Environment) -> list[Found]: ...


_REGISTRY: dict[str, FreshnessSource] = {}


def register(source: FreshnessSource) -> FreshnessSource:
    """Make `source` answer for its kinds; a kind claimed twice is a programming error."""
    for kind in source.kinds:
        if kind in _REGISTRY and _REGISTRY[kind] is not source:
            raise ValueError(f"freshness kind {kind!r} is registered twice ({_REGISTRY[kind]!r}, {source!r})")
        _REGISTRY[kind] = source
    return source


def sources() -> list[FreshnessSource]:
    """Every registered source, once each, after importing every module in sources/."""
    for module in sorted(m.name for m in pkgutil.iter_modules([str(_SOURCES_DIR)])):
        importlib.import_module(f"{SOURCES_PACKAGE}.{module}")
    unique: list[FreshnessSource] = []
    for source in _REGISTRY.values():
        if source not in unique:
            unique.append(source)
    return unique


def source_for(kind: str) -> FreshnessSource:
    sources()
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise KeyError(
            f"no freshness source handles resource kind {kind!r} (known: {sorted(_REGISTRY)}); add a module "
            f"to {_SOURCES_DIR}"
        ) from None


def all_targets(policy: Any) -> list[Target]:
    """Every target of every source for `policy` (parse time: the policy only, no I/O)."""
    return [target for source in sources() for target in source.targets(policy)]
