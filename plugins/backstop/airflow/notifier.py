"""The Slack failure alert as an Airflow notifier: `on_failure_callback=SlackFailureNotifier(...)`.

Shaped like the providers' notifiers (`SmtpNotifier`, `SlackNotifier`): a `BaseNotifier` with
`template_fields`, rendered against the task's context, whose `notify(context)` does the
sending. The sending stays on slack-sdk (`backstop.airflow.slack`: the WebClient with
RateLimitErrorRetryHandler, and the Block Kit builder), so no Slack provider is needed.

Two things differ from a plain BaseNotifier, on purpose:

- It never raises. BaseNotifier re-raises whatever `notify` or template rendering raised;
  Airflow's task runner logs that and moves on, but a failure alert must not depend on it.
  Slack down, a 429 storm, a missing token or a bad template is logged, and the task's own
  error is what the run reports.
- It renders a copy. BaseNotifier renders `template_fields` in place, irreversibly, and one
  notifier instance (from `default_args`) serves every task of a DAG, so in a process that
  runs several tasks (`dag.test()`) the first task's rendered channel would stick. Each call
  renders and sends from a shallow copy; the instance keeps its templates.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseNotifier

from backstop.airflow.slack import DEFAULT_CONN_ID, failure_blocks, post_message

log = logging.getLogger(__name__)


class SlackFailureNotifier(BaseNotifier):
    """Post one Block Kit message per failed task instance to Slack.

    Airflow calls it when a task has failed for good (after its retries). The channel is the
    task's `alert_channel` when it has one (per-resource routing, e.g. a mapped snapshot task
    for a database whose policy names its own channel), else `channel`.

    :param channel: default channel (templated), e.g. "#triflow-alerts".
    :param slack_conn_id: Airflow connection whose password is the bot token (templated).
    """

    template_fields: Sequence[str] = ("channel", "slack_conn_id")

    def __init__(self, *, channel: str, slack_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channel = channel
        self.slack_conn_id = slack_conn_id

    def notify(self, context: Mapping[str, Any]) -> None:
        channel = getattr(context.get("task"), "alert_channel", None) or self.channel
        text, blocks = failure_blocks(context)
        post_message(channel, text, blocks, self.slack_conn_id)  # logs, never raises

    def __call__(self, *args: Any) -> None:
        try:
            if len(args) == 1 and isinstance(args[0], Mapping):
                args = (dict(args[0]),)  # BaseNotifier adds the template fields to the context
            BaseNotifier.__call__(copy.copy(self), *args)
        except Exception:
            log.exception("The Slack failure alert was not sent; the task's own error stands")

    def __repr__(self) -> str:
        return f"SlackFailureNotifier(channel={self.channel!r}, slack_conn_id={self.slack_conn_id!r})"
