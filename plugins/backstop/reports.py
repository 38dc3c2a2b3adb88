"""Drill and restore evidence: a JSON report in the report bucket, and its Slack summary.

Key layout: `reports/drills/<YYYYMMDD>/<drill>-<run id>.json` for restore drills and
`reports/restores/<YYYYMMDD>/<target>-<run id>.json` for manual point-in-time restores.
Reports hold ids, times, each check with its observed value, RTO, RPO and pass/fail; never
credentials (the verify package keeps passwords out of every result it returns).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from backstop.airflow.slack import context_line, fields, section


def report_key(kind: str, name: str, run_id: str, when: datetime) -> str:
    folder = "drills" if kind in ("pitr", "dr_snapshot") else "restores"
    safe_run = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return f"reports/{folder}/{when:%Y%m%d}/{name}-{safe_run}.json"


def write_report(s3_hook: Any, bucket: str, key: str, report: dict[str, Any]) -> str:
    s3_hook.load_string(json.dumps(report, indent=2, default=str), key, bucket, replace=True)
    return f"s3://{bucket}/{key}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def summary_text(report: dict[str, Any]) -> str:
    """One line for Slack and logs: verdict, what failed (by check name), RTO and RPO."""
    label = "Restore drill" if report.get("kind") in ("pitr", "dr_snapshot") else "Manual restore"
    verdict = "PASSED" if report.get("passed") else "FAILED"
    head = f"{label} {report.get('name')} {verdict}: {report.get('source')} -> {report.get('instance_id') or '-'}"
    objectives = report.get("objectives") or {}
    measures = (
        f"RTO {duration_text(report.get('rto_seconds'))} (target {duration_text(objectives.get('rto_seconds'))}), "
        f"RPO {duration_text(report.get('rpo_seconds'))} (target {duration_text(objectives.get('rpo_seconds'))})"
        if objectives
        else f"restored to {report.get('restore_point')}"
    )
    if report.get("passed"):
        checks = report.get("checks") or []
        return f"{head}; {len(checks)} check(s) passed; {measures}{decision_text(report)}"
    return f"{head}; failed at {report.get('failed_step')}: " + "; ".join(report.get("failures") or ["?"])


def decision_text(report: dict[str, Any]) -> str:
    """The manual restore's copy-back decision and result, or '' (nothing was asked)."""
    decision = report.get("decision")
    if not decision:
        return ""
    if not decision.get("option"):
        return f"; copy-back of {', '.join(report.get('tables') or [])}: no decision"
    verb = {"Approve": "approved", "Reject": "rejected"}.get(decision["option"], decision["option"])
    text = f"; copy-back {verb} by {decision.get('by')}"
    done = report.get("copy_back") or {}
    if done.get("copied"):
        text += (
            f": copied {', '.join(done['copied'])} (replaced tables kept in schema {done.get('kept_schema')})"
        )
    return text


def summary_blocks(report: dict[str, Any]) -> list[dict[str, Any]]:
    icon = ":white_check_mark:" if report.get("passed") else ":x:"
    lines = []
    for check in report.get("checks") or []:
        mark = "ok" if check.get("passed") else "FAILED"
        lines.append(
            f"• `{check['name']}` {mark}: observed `{check.get('observed')}` ({check.get('message')})"
        )
    blocks: list[dict[str, Any]] = [
        section(f"{icon} {summary_text(report)}"),
        fields(
            [
                ("Source", f"`{report.get('source')}`"),
                ("Restored as", f"`{report.get('instance_id') or '-'}`"),
                ("RTO", duration_text(report.get("rto_seconds"))),
                ("RPO", duration_text(report.get("rpo_seconds"))),
            ]
        ),
    ]
    if lines:
        blocks.append(section("\n".join(lines)))
    if report.get("report_uri"):
        blocks.append(context_line(f"Report `{report['report_uri']}`"))
    return blocks
