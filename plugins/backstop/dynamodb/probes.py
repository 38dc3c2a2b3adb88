"""Item probes on a restored DynamoDB table, as the drills' CheckResult (backstop.drills.checks).

A probe reads with strongly consistent GetItem / Query (Select=COUNT), never writes. The
freshness probe's attribute (ISO 8601 or epoch seconds) is the newest committed write the
restore holds: `backstop.drills.verdict.measure` takes RPO from it, as from a SQL freshness check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from backstop.aws import dynamodb as ddb
from backstop.drills.checks import CheckResult
from backstop.drills.times import iso, parse_time


def _text(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in key.items())


def attribute_time(value: Mapping[str, Any] | None) -> datetime | None:
    """A timestamp attribute as an aware datetime: {"S": ISO 8601} or {"N": epoch seconds}."""
    if not value:
        return None
    if "N" in value:
        return datetime.fromtimestamp(float(value["N"]), UTC)
    if "S" in value:
        return parse_time(value["S"])
    raise ValueError(f"not a timestamp attribute: {sorted(value)}")


def run_probe(client: Any, table: str, probe: Mapping[str, Any], restore_point: datetime) -> CheckResult:
    started = time.monotonic()
    name = probe["name"]
    if "partition" in probe:
        query = f"Query {_text(probe['partition'])} (COUNT)"
        count = ddb.count_partition(client, table, probe["partition"])
        passed = count >= probe["min_count"]
        return CheckResult(
            name,
            query,
            f">= {probe['min_count']} items",
            count,
            passed,
            f"observed {count}, expected at least {probe['min_count']}",
            time.monotonic() - started,
        )
    query = f"GetItem {_text(probe['key'])}"
    item = ddb.get_item(client, table, probe["key"])
    if "attribute" not in probe:
        return CheckResult(
            name,
            query,
            "item exists",
            item is not None,
            item is not None,
            "item found" if item is not None else f"item {_text(probe['key'])} is missing",
            time.monotonic() - started,
        )
    max_age = timedelta(seconds=float(probe["max_age_seconds"]))
    expectation = f"{probe['attribute']} no older than {max_age} at the restore point"
    if item is None:
        return CheckResult(
            name, query, expectation, None, False, f"item {_text(probe['key'])} is missing",
            time.monotonic() - started, freshness=True,
        )  # fmt: skip
    try:
        newest = attribute_time(item.get(probe["attribute"]))
    except ValueError as exc:
        return CheckResult(name, query, expectation, None, False, str(exc), time.monotonic() - started, True)
    if newest is None:
        message, passed = f"attribute {probe['attribute']} is missing", False
    else:
        age = restore_point - newest
        passed = age <= max_age
        message = f"{probe['attribute']} {iso(newest)} is {age} before the restore point (max {max_age})"
    return CheckResult(
        name, query, expectation, iso(newest), passed, message, time.monotonic() - started,
        freshness=True, newest=iso(newest),
    )  # fmt: skip


def run_probes(
    client: Any, table: str, probes: Sequence[Mapping[str, Any]], restore_point: datetime
) -> list[CheckResult]:
    return [run_probe(client, table, probe, restore_point) for probe in probes]
