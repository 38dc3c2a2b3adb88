"""Everything one console page shows, gathered panel by panel.

A panel that cannot be read (AccessDenied, a bucket that does not exist yet, the emulator down)
carries its error instead of its data, and the other panels still show: one broken source must
not blank the page the DR team opens during an incident. AWS is reached only through the
amazon provider's hooks with the policy's `aws_conn_id`, so the page sees what the pipelines see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backstop.policy import BackupPolicy

log = logging.getLogger(__name__)

PANELS = ("freshness", "drills", "restorable", "retention", "audit")


@dataclass
class Panel:
    data: Any = None
    error: str | None = None


@dataclass
class ConsoleView:
    generated_at: datetime
    policy: BackupPolicy
    panels: dict[str, Panel] = field(default_factory=dict)
    extra: dict[str, Panel] = field(default_factory=dict)  # secondary tables: quota, instances, restores


class AwsClients:
    """boto3 clients from the provider's hooks, one per (service, region), for one page view."""

    def __init__(self, aws_conn_id: str | None, default_region: str) -> None:
        self.aws_conn_id = aws_conn_id
        self.default_region = default_region
        self._clients: dict[tuple[str, str], Any] = {}

    def _client(self, hook_path: str, region: str) -> Any:
        from backstop.aws.hooks import make_hook

        key = (hook_path, region)
        if key not in self._clients:
            self._clients[key] = make_hook(hook_path, aws_conn_id=self.aws_conn_id, region_name=region).conn
        return self._clients[key]

    def rds(self, region: str) -> Any:
        from backstop.aws.hooks import RDS_HOOK

        return self._client(RDS_HOOK, region)

    def s3(self) -> Any:
        from backstop.aws.hooks import S3_HOOK

        return self._client(S3_HOOK, self.default_region)


def _panel(name: str, read: Callable[[], Any]) -> Panel:
    try:
        return Panel(data=read())
    except Exception as exc:  # shown on the page instead of the panel's data
        log.warning("DR console: panel %s could not be read: %s", name, exc)
        return Panel(error=error_text(exc))


def error_text(exc: BaseException) -> str:
    """The exception's type and first line, cut short (no stack, no request dumps)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:300]}"


def gather(
    policy: BackupPolicy,
    clients: AwsClients | None = None,
    *,
    now: datetime | None = None,
    read_audit: Callable[[], Any] | None = None,
) -> ConsoleView:
    from backstop.console import evidence, live

    now = now or datetime.now(UTC)
    clients = clients or AwsClients(policy.defaults.aws_conn_id, policy.defaults.region)
    bucket = policy.defaults.report_bucket
    view = ConsoleView(generated_at=now, policy=policy)
    snapshots = live.SnapshotCache(clients.rds)

    def freshness() -> Any:
        from backstop.freshness.evidence import read_latest

        return read_latest(clients.s3(), bucket)

    def audit() -> Any:
        from backstop.console.audit import restore_runs

        return (read_audit or restore_runs)()

    view.panels["freshness"] = _panel("freshness", freshness)
    view.panels["drills"] = _panel("drills", lambda: evidence.drill_history(clients.s3(), bucket))
    view.panels["restorable"] = _panel(
        "restorable", lambda: live.restorable(policy, clients.rds, snapshots, now)
    )
    view.panels["retention"] = _panel(
        "retention", lambda: evidence.latest_retention_plan(clients.s3(), bucket)
    )
    view.panels["audit"] = _panel("audit", audit)
    view.extra["quota"] = _panel("quota", lambda: live.quota_use(policy, snapshots))
    view.extra["restore_reports"] = _panel(
        "restore_reports", lambda: evidence.restore_reports(clients.s3(), bucket)
    )
    view.extra["instances"] = _panel("instances", lambda: live.running_instances(policy, clients.rds))
    view.extra["resilience"] = _panel("resilience", lambda: evidence.resilience_history(clients.s3(), bucket))
    return view
