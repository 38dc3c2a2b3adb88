"""Slack alerts through slack-sdk: the client, one-message delivery, the failure message's blocks.

The failure callback itself is `backstop.airflow.notifier.SlackFailureNotifier`; operators that
post their own summaries (drills, retention) call `post_message`.

The token is the password of an Airflow connection (default `slack_api_default`); its
extra may carry `base_url` (the local stack points it at the recorder). The token is masked
as soon as it is read and never logged. HTTP 429s are retried by slack-sdk's
RateLimitErrorRetryHandler (it honours Retry-After). If Slack cannot be reached the alert is
logged and dropped: a failure callback must never hide or replace the task's own error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "slack_api_default"
RATE_LIMIT_RETRIES = 3
TIMEOUT_SECONDS = 10


def slack_client(conn_id: str = DEFAULT_CONN_ID) -> Any:
    """A WebClient built from the Airflow connection, with 429 and connection-error retries."""
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

    conn = BaseHook.get_connection(conn_id)
    token = conn.password
    if not token:
        raise ValueError(f"Airflow connection {conn_id!r} has no password; it must hold the Slack bot token")
    mask_secret(token)
    extra = conn.extra_dejson or {}
    kwargs: dict[str, Any] = {}
    if extra.get("base_url"):
        kwargs["base_url"] = extra["base_url"]
    return WebClient(
        token=token,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
        **kwargs,
    )


def post_message(
    channel: str, text: str, blocks: list[dict[str, Any]], conn_id: str = DEFAULT_CONN_ID
) -> bool:
    """Post one message; returns False (and logs why) instead of raising when Slack fails."""
    try:
        client = slack_client(conn_id)
        client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    except Exception as exc:  # Slack trouble must never mask the error being reported
        # The undelivered text goes to the log, so the log alone tells the on-call what happened.
        log.error(
            "Slack message to %s was not delivered (%s: %s); it said: %s",
            channel,
            type(exc).__name__,
            exc,
            text[:SECTION_LIMIT],
        )
        return False
    log.info("Slack message delivered to %s", channel)
    return True


# --- Block Kit pieces: every Backstop message (failure alert, drill summary, retention halt) is
# built from these, so the look of a message is decided here once.

SECTION_LIMIT = 2900  # Slack refuses a section text over 3000 characters


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}}


def fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A section of labelled fields: [("DAG", "`rds_weekly_snapshot`"), ...]."""
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in pairs]}


def context_line(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def link_button(label: str, url: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [{"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}],
    }


def _first_line(error: BaseException | str | None) -> str:
    if error is None:
        return "(no exception recorded)"
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0]
    if isinstance(error, BaseException):
        first = f"{type(error).__name__}: {first}"
    return first[:500]


def _resource(task: Any, ti: Any = None) -> str:
    """What the failed task was working on: its resource, its mapped label, or its regions.

    Tasks over a whole inventory (retention plan/apply, freshness) have no single resource; the
    regions they cover still tell the on-call where to look. "-" only when nothing is known.
    """
    for attribute in ("alert_resource", "db_identifier", "resource_id", "source_id"):
        value = getattr(task, attribute, None)
        if value:
            return str(value)
    label = getattr(ti, "rendered_map_index", None)
    if label:
        return str(label)
    regions = getattr(task, "regions", None)
    if isinstance(regions, (list, tuple)) and regions:
        return "regions " + ", ".join(map(str, regions))
    return "-"


def failure_blocks(context: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and Block Kit blocks describing a failed task instance."""
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        task_id = f"{task_id}[{map_index}]"
    resource = _resource(task, ti)
    try_number = getattr(ti, "try_number", "?")
    max_tries = (getattr(task, "retries", 0) or 0) + 1
    error = _first_line(context.get("exception"))
    run_id = context.get("run_id", "?")
    log_url = getattr(ti, "log_url", None)
    text = f"Backstop task failed: {dag_id}.{task_id} ({resource}): {error}"
    blocks: list[dict[str, Any]] = [
        header(":rotating_light: Backstop task failed"),
        fields(
            [
                ("DAG", f"`{dag_id}`"),
                ("Task", f"`{task_id}`"),
                ("Resource", f"`{resource}`"),
                ("Try", f"{try_number} of {max_tries}"),
            ]
        ),
        section(f"*Error*\n```{error}```"),
        context_line(f"Run `{run_id}`"),
    ]
    if log_url:
        blocks.append(link_button("Open log", log_url))
    return text, blocks
