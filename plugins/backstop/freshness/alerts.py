"""Who is told what, and the memory of it: stale once, a reminder per interval, recovered once.

Pure: `plan_alerts(previous state, report, now, reminder)` returns the next state and the
events to announce; `after_delivery` undoes the state change of an event Slack did not take, so
the next run tries again (a stale alert is never lost to a Slack outage, and a "recovered" is
never sent for something nobody was told about). Only red is stale; amber never alerts.

The state is `freshness/state.json` in the report bucket (see the README, "Backup freshness",
for why S3 and not an Airflow Variable).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from backstop.freshness.evidence import STATE_KEY, FreshnessReport, FreshnessRow, Status
from backstop.retention.planner import format_duration

EventKind = Literal["stale", "reminder", "recovered"]
STATE_FORMAT = "backstop.freshness-state/1"


class RowState(BaseModel):
    """What the monitor last saw of one row and when it last told its channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Status
    since: datetime  # when the row entered this status
    reason: str
    channel: str
    alerted_at: datetime | None = None  # red only: the last stale alert or reminder delivered


class AlertState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["backstop.freshness-state/1"] = STATE_FORMAT
    updated_at: datetime | None = None
    rows: dict[str, RowState] = {}


@dataclass(frozen=True)
class Event:
    kind: EventKind
    key: str
    row: FreshnessRow
    channel: str
    since: datetime


def plan_alerts(
    previous: AlertState,
    report: FreshnessReport,
    channels: dict[str, str],
    now: datetime,
    reminder_every_s: float,
) -> tuple[AlertState, list[Event]]:
    """The next state and the events to send. `channels`: row key -> Slack channel."""
    rows: dict[str, RowState] = {}
    events: list[Event] = []
    for row in report.rows:
        key = row.key
        channel = channels[key]
        prev = previous.rows.get(key)
        was_red = prev is not None and prev.status == "red"
        if row.status == "red":
            since = prev.since if was_red else now
            alerted_at = prev.alerted_at if was_red else None
            if alerted_at is None:
                events.append(Event("stale", key, row, channel, since))
                alerted_at = now
            elif (now - alerted_at).total_seconds() >= reminder_every_s:
                events.append(Event("reminder", key, row, channel, since))
                alerted_at = now
            rows[key] = RowState(
                status="red", since=since, reason=row.reason, channel=channel, alerted_at=alerted_at
            )
            continue
        if was_red and prev.alerted_at is not None:
            events.append(Event("recovered", key, row, channel, prev.since))
        since = prev.since if prev is not None and prev.status == row.status else now
        rows[key] = RowState(status=row.status, since=since, reason=row.reason, channel=channel)
    return AlertState(updated_at=now, rows=rows), events


def after_delivery(previous: AlertState, planned: AlertState, undelivered: Sequence[Event]) -> AlertState:
    """The state to store when some events were not delivered: those are tried again next run."""
    if not undelivered:
        return planned
    rows = dict(planned.rows)
    for event in undelivered:
        prev = previous.rows.get(event.key)
        if event.kind == "stale":
            rows[event.key] = rows[event.key].model_copy(update={"alerted_at": None})
        elif event.kind == "reminder" and prev is not None:
            rows[event.key] = rows[event.key].model_copy(update={"alerted_at": prev.alerted_at})
        elif event.kind == "recovered" and prev is not None:
            rows[event.key] = prev  # still "red, told": the next green run says recovered again
    return planned.model_copy(update={"rows": rows})


def read_state(s3_client: Any, bucket: str, log: Any = None) -> AlertState:
    """The stored state; empty when there is none. An unreadable one is replaced, not trusted:
    starting empty can only repeat a stale alert, never swallow one."""
    try:
        body = s3_client.get_object(Bucket=bucket, Key=STATE_KEY)["Body"].read()
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return AlertState()
        raise
    try:
        return AlertState.model_validate(json.loads(body))
    except ValueError as exc:
        if log is not None:
            log.warning("s3://%s/%s is not a freshness state (%s); starting afresh", bucket, STATE_KEY, exc)
        return AlertState()


def write_state(s3_client: Any, bucket: str, state: AlertState) -> str:
    s3_client.put_object(
        Bucket=bucket,
        Key=STATE_KEY,
        Body=state.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    return f"s3://{bucket}/{STATE_KEY}"


# --- messages --------------------------------------------------------------------------------

_HEAD = {
    "stale": ":rotating_light: Backup stale",
    "reminder": ":hourglass: Backup still stale",
    "recovered": "✅ recovered: backup fresh again",
}


def _line(event: Event, now: datetime) -> str:
    row = event.row
    where = f"`{row.resource_id}` in {row.region} ({row.role})"
    if event.kind == "reminder":
        return f"• {where}, stale for {format_duration(now - event.since)}: {row.reason}"
    if event.kind == "recovered":
        return f"• {where} after {format_duration(now - event.since)} stale: {row.reason}"
    return f"• {where}: {row.reason}"


def messages(
    events: Sequence[Event], now: datetime, report_uri: str | None, reminder_every_s: float
) -> list[tuple[str, EventKind, list[Event], str, list[dict[str, Any]]]]:
    """One message per channel and event kind: (channel, kind, its events, text, blocks)."""
    from backstop.airflow.slack import context_line, header, section

    grouped: dict[tuple[str, EventKind], list[Event]] = {}
    for event in events:
        grouped.setdefault((event.channel, event.kind), []).append(event)
    out = []
    for (channel, kind), group in sorted(grouped.items(), key=lambda item: item[0]):
        lines = [_line(e, now) for e in group]
        names = ", ".join(f"{e.row.resource_id} ({e.row.region})" for e in group)
        if kind == "recovered":
            text = f"✅ recovered: {names}"
        elif kind == "reminder":
            text = f"Backstop: backup still stale: {names}"
        else:
            text = f"Backstop: backup stale: {names}"
        note = f"Reminders every {format_duration_s(reminder_every_s)} while stale"
        if report_uri:
            note += f" · report `{report_uri}`"
        blocks = [header(_HEAD[kind]), section("\n".join(lines)), context_line(note)]
        out.append((channel, kind, group, text[:3000], blocks))
    return out


def format_duration_s(seconds: float) -> str:
    from datetime import timedelta

    return format_duration(timedelta(seconds=seconds))
