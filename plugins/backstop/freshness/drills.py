"""The latest restore drill of each resource, read from the drill reports in the report bucket.

Drill reports live at `reports/drills/<YYYYMMDD>/<drill>-<run id>.json` (backstop.reports). The
newest report of each drill named in the policy is read (one listing, one GET per drill); a
drill counts for the resource it restores in the region it restores in (the source region for
`pitr`, its `dr_region` for `dr_snapshot`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from backstop.freshness.evidence import DrillResult

DRILL_PREFIX = "reports/drills/"


def _drill_of(key: str, names: Sequence[str]) -> str | None:
    """The drill a report key belongs to: the longest policy drill name the file name starts with."""
    base = key.rsplit("/", 1)[-1]
    matches = [n for n in names if base.startswith(f"{n}-")]
    return max(matches, key=len, default=None)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _when(result: DrillResult) -> float:
    return result.at.timestamp() if result.at else float("-inf")


def drill_result(name: str, report: Mapping[str, Any]) -> DrillResult:
    return DrillResult(
        name=name,
        passed=bool(report.get("passed")),
        at=_time(report.get("finished_at")) or _time(report.get("started_at")),
        rto_s=report.get("rto_seconds"),
        rpo_s=report.get("rpo_seconds"),
    )


def latest_drills(
    s3_client: Any, bucket: str, drills: Sequence[Mapping[str, str]], problems: list[str]
) -> dict[tuple[str, str], DrillResult]:
    """(source id, restore region) -> the latest drill result among the policy's drills there."""
    names = [d["name"] for d in drills]
    if not names:
        return {}
    newest: dict[str, tuple[str, Any]] = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DRILL_PREFIX):
        for item in page.get("Contents", []):
            name = _drill_of(item["Key"], names)
            if name is None:
                continue
            rank = (item["Key"].split("/")[2], item["LastModified"])
            if name not in newest or rank > newest[name][1]:
                newest[name] = (item["Key"], rank)
    out: dict[tuple[str, str], DrillResult] = {}
    for drill in drills:
        if drill["name"] not in newest:
            continue
        key = newest[drill["name"]][0]
        try:
            report = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:  # one unreadable report must not hide every row
            problems.append(
                f"drill report s3://{bucket}/{key} could not be read: {type(exc).__name__}: {exc}"
            )
            continue
        result = drill_result(drill["name"], report)
        place = (drill["source"], drill["region"])
        current = out.get(place)
        if current is None or _when(result) > _when(current):
            out[place] = result
    return out
