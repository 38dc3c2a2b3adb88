"""The freshness evidence in the report bucket: its keys, its typed rows, and how to read it.

This is the contract with the DR console (and anything else that reads freshness): the keys
and the models below stay stable. Every monitor run writes one report twice, at
`freshness/runs/<UTC timestamp>.json` (history) and `freshness/latest.json` (what is true
now); the alert state (who was told what, when) is `freshness/state.json` beside them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

PREFIX = "freshness/"
LATEST_KEY = "freshness/latest.json"
RUNS_PREFIX = "freshness/runs/"
STATE_KEY = "freshness/state.json"
REPORT_FORMAT = "backstop.freshness/1"

Status = Literal["green", "amber", "red"]
Role = Literal["source", "dr"]


def run_key(generated_at: datetime) -> str:
    """`freshness/runs/20261122T031500Z.json`: sorts by time, one per run."""
    return f"{RUNS_PREFIX}{generated_at:%Y%m%dT%H%M%SZ}.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DrillResult(_Frozen):
    """The latest restore drill of a resource (from the drill reports under reports/drills/)."""

    name: str
    passed: bool
    at: datetime | None
    rto_s: float | None = None
    rpo_s: float | None = None


class FreshnessRow(_Frozen):
    """One protected resource in one region it should have a backup in.

    `role` is 'source' for the resource's own region and 'dr' for each region it is copied to.
    Times are UTC; ages are seconds at the report's `generated_at`.
    """

    policy: str
    kind: str  # 'rds_instance', 'aurora_cluster', or a kind another freshness source registers
    resource_id: str
    region: str
    role: Role
    newest_backup_id: str | None
    newest_backup_at: datetime | None
    age_s: float | None
    max_age_s: float
    rpo_s: float | None
    status: Status
    reason: str
    newest_verified_backup_id: str | None = None
    last_drill: DrillResult | None = None

    @property
    def key(self) -> str:
        """Stable identity of the row across runs (the alert state is keyed by it)."""
        return f"{self.policy}/{self.kind}/{self.resource_id}/{self.region}"


class FreshnessReport(_Frozen):
    """What one monitor run found: every row, and counts per status."""

    format: Literal["backstop.freshness/1"] = REPORT_FORMAT
    generated_at: datetime
    run_id: str | None = None
    rows: tuple[FreshnessRow, ...]
    counts: dict[str, int]
    problems: tuple[str, ...] = ()  # sources that could not be read (their resources are red rows)

    @classmethod
    def of(
        cls,
        rows: list[FreshnessRow],
        generated_at: datetime,
        run_id: str | None = None,
        problems: list[str] | None = None,
    ) -> FreshnessReport:
        counts = {status: sum(r.status == status for r in rows) for status in ("green", "amber", "red")}
        return cls(
            generated_at=generated_at,
            run_id=run_id,
            rows=tuple(rows),
            counts=counts,
            problems=tuple(problems or ()),
        )

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def read_latest(s3_client: Any, bucket: str) -> FreshnessReport | None:
    """The newest freshness report in `bucket`, or None when the monitor has not run yet."""
    try:
        body = s3_client.get_object(Bucket=bucket, Key=LATEST_KEY)["Body"].read()
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            return None
        raise
    return FreshnessReport.model_validate(json.loads(body))
