"""The model parts several policy sections share: the strict base, objectives, retention rules,
SQL checks and the restore drill.

They live apart from `model.py` so that section modules (dynamodb, resilience) can build on them
while `model.py` imports those sections: no import cycle. `model.py` re-exports every name here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backstop.policy.fields import Duration, RdsIdentifier, Region, Slug, bounded_int, matching


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Objectives(_Strict):
    """Recovery targets the drills measure against (seed: RTO 1h, RPO 5m)."""

    rpo: Duration
    rto: Duration


class KeepRule(_Strict):
    """Keep the newest `count` representatives of a period and/or those younger than `max_age`.

    A representative is the newest snapshot of its day / ISO week / month / year (in the
    defaults' time zone).
    """

    period: Literal["daily", "weekly", "monthly", "yearly"]
    count: bounded_int(1, 10_000) | None = None
    max_age: Duration | None = None

    @model_validator(mode="after")
    def _count_or_age(self) -> KeepRule:
        if self.count is None and self.max_age is None:
            raise ValueError(f"{self.period} rule keeps nothing: give 'count', 'max_age' or both")
        return self


class RetentionPolicy(_Strict):
    """How long managed snapshots live, in the source region and in every DR region."""

    keep: list[KeepRule] = Field(min_length=1)
    min_keep: bounded_int(1, 1_000) = 2

    @model_validator(mode="after")
    def _no_contradictions(self) -> RetentionPolicy:
        periods = [rule.period for rule in self.keep]
        if len(set(periods)) != len(periods):
            raise ValueError(f"keep lists a period twice: {periods}; merge them into one rule")
        return self


class DataCheck(_Strict):
    """One verification query run against a restored database, with its expectation.

    The query returns one value. `min_rows`: the value (e.g. COUNT(*)) is at least this.
    `equals`: the value equals this. `max_age`: the value is a timestamp no older than this at
    the restore point; a `freshness` check's timestamp is the newest committed row, used for RPO.
    """

    name: Slug
    sql: str = Field(min_length=1)
    min_rows: bounded_int(0, 10**12) | None = None
    equals: str | int | float | bool | None = None
    max_age: Duration | None = None
    freshness: bool = False

    @model_validator(mode="after")
    def _one_expectation(self) -> DataCheck:
        given = [k for k in ("min_rows", "equals", "max_age") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"check {self.name!r} needs exactly one of min_rows, equals, max_age (got {given or 'none'})"
            )
        if self.freshness and self.max_age is None:
            raise ValueError(
                f"check {self.name!r}: freshness needs a max_age expectation (a timestamp query)"
            )
        return self


class Drill(_Strict):
    """A restore drill: restore, verify with real queries, measure RTO/RPO, delete.

    `pitr` restores the source to `restore_offset` before now (or the latest restorable time);
    `dr_snapshot` restores the newest managed copy in `dr_region`.
    """

    name: Slug
    kind: Literal["pitr", "dr_snapshot"] = "pitr"
    source: RdsIdentifier
    region: Region | None = None
    dr_region: Region | None = None
    schedule: Slug = "monthly-drill"
    restore_offset: Duration | None = timedelta(minutes=5)  # None = latest restorable time
    instance_class: str = "db.t4g.medium"
    max_lifetime: Duration = timedelta(hours=3)
    database: str = "triflow"
    credentials_secret: str | None = None  # Secrets Manager secret id holding username/password
    credentials_conn_id: str | None = None  # or an Airflow connection
    checks: list[DataCheck] = Field(min_length=1)
    objectives: Objectives
    # what the manual restore form offers to copy back into the original (a pick-list, not free text)
    copy_back_tables: list[
        Annotated[
            str,
            matching(
                re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"),
                "a table name",
                "schema.table in lower case, e.g. core.workflows",
            ),
        ]
    ] = []

    @model_validator(mode="after")
    def _consistent(self) -> Drill:
        if (self.credentials_secret is None) == (self.credentials_conn_id is None):
            raise ValueError("give exactly one of credentials_secret or credentials_conn_id")
        if self.kind == "dr_snapshot" and self.dr_region is None:
            raise ValueError("a dr_snapshot drill needs dr_region")
        names = [c.name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"check names must be unique: {names}")
        if sum(c.freshness for c in self.checks) > 1:
            raise ValueError("at most one check can be the freshness (RPO) check")
        return self
