"""Posture: ElastiCache's own automatic snapshots are set as the policy says (retention, window).

A mismatch fails the task, so the Slack failure alert names it, like every other check.
Nothing is changed: posture is reported, not enforced.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator
from backstop.aws import elasticache as ec
from backstop.aws.hooks import LazyHookClass


def posture_problems(
    source_id: str, source: dict[str, Any] | None, retention_days: int, window: str
) -> list[str]:
    """What differs from the policy (pure; [] when the source is as expected)."""
    if source is None:
        return [f"{source_id}: does not exist"]
    problems = []
    limit = source.get("SnapshotRetentionLimit") or 0
    if limit != retention_days:
        problems.append(
            f"{source_id}: automatic snapshot retention is {limit} days"
            + (" (automatic snapshots are off)" if limit == 0 else "")
            + f", the policy says {retention_days}"
        )
    actual = source.get("SnapshotWindow")
    if actual != window:
        problems.append(
            f"{source_id}: snapshot window is {actual or 'unset'}, the policy says {window} (UTC)"
        )
    return problems


class CachePostureOperator(BackstopAwsOperator):
    """Check automatic snapshot retention and window of each source; fail listing every mismatch.

    :param sources: [{"type", "id", "retention_days", "window"}] from the policy.
    """

    aws_hook_class = LazyHookClass(ec.ELASTICACHE_HOOK)

    def __init__(self, *, sources: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = sources

    def execute(self, context: Context) -> dict[str, Any]:
        client = self.hook.conn
        problems: list[str] = []
        for source in self.sources:
            described = ec.describe_source(client, source["type"], source["id"])
            problems += posture_problems(source["id"], described, source["retention_days"], source["window"])
        if problems:
            raise AirflowFailException("ElastiCache posture: " + "; ".join(problems))
        self.log.info("ElastiCache posture OK for %s", ", ".join(s["id"] for s in self.sources))
        return {"checked": [s["id"] for s in self.sources], "problems": []}
