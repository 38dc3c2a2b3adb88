"""What every Backstop DAG shares, derived from the policy: retries, alerts, schedule, tags.

DAG files call these so they stay wiring only, and a change of retry or alert behaviour is
made once, here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from backstop.airflow.notifier import SlackFailureNotifier
from backstop.policy import BackupPolicy

# Schedules take effect from this date on; with catchup off, only the next slot runs.
START_DATE = datetime(2026, 1, 1)


def default_args(policy: BackupPolicy, channel: str | None = None) -> dict[str, Any]:
    """Task defaults: owner, retries with exponential backoff, the Slack failure alert."""
    retries = policy.defaults.retries
    return {
        "owner": policy.defaults.owner,
        "retries": retries.count,
        "retry_delay": retries.delay,
        "retry_exponential_backoff": 2.0 if retries.exponential_backoff else 0,
        "max_retry_delay": retries.max_delay,
        "on_failure_callback": SlackFailureNotifier(
            channel=channel or policy.defaults.slack.channel, slack_conn_id=policy.defaults.slack.conn_id
        ),
    }


def cron_timetable(policy: BackupPolicy, tier: str) -> Any:
    """A CronTriggerTimetable in the policy's time zone (fires at the wall-clock time given)."""
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(policy.schedules[tier].cron, timezone=policy.defaults.timezone)


def scheduled(policy: BackupPolicy, text: str, cron: str) -> dict[str, Any]:
    """`schedule` (a CronTriggerTimetable in the policy's zone) and a `description` naming the zone.

    The UI words a cron timetable ("At 03:00, only on Sunday") without its zone, and these are
    wall-clock times in the policy's zone (03:00 Asia/Seoul is 18:00 UTC the day before). The
    cron is not put into words here: cron_descriptor costs 0.5 s to import, at every parse.
    """
    from airflow.sdk import CronTriggerTimetable

    zone = policy.defaults.timezone
    return {
        "schedule": CronTriggerTimetable(cron, timezone=zone),
        "description": f"{text}; cron {cron} in {zone} time",
    }


def on_policy_schedule(policy: BackupPolicy, text: str, name: str) -> dict[str, Any]:
    """`scheduled` for a schedule of the policy's `schedules` section, by its name."""
    return scheduled(policy, text, policy.schedules[name].cron)


def start_date(policy: BackupPolicy) -> datetime:
    return START_DATE.replace(tzinfo=ZoneInfo(policy.defaults.timezone))


def dag_kwargs(policy: BackupPolicy, *, tags: list[str], channel: str | None = None) -> dict[str, Any]:
    """Keyword arguments common to every Backstop DAG."""
    return {
        "start_date": start_date(policy),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(policy, channel),
        "tags": ["backstop", *tags],
    }


def rds_snapshots_asset() -> Any:
    """The Asset the snapshot DAGs update and the cross-region copy DAG is scheduled on.

    Name only: an Asset with a URI scheme makes Airflow load every provider's URI handlers,
    which imports boto3 at parse time (measured: it breaks the parse budget).
    """
    from airflow.sdk import Asset

    return Asset(name="backstop_rds_snapshots")


def copy_pool(region: str) -> str:
    """Pool limiting copies in flight to one DR region (declared in airflow_settings.yaml)."""
    return f"rds_copy_{region}"
