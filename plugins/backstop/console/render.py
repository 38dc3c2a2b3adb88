"""The console page as one HTML document: inline CSS, inline SVG, no scripts, nothing fetched.

Every value from AWS, S3 or Airflow goes through `escape` (a report or a tag value is data, not
markup). Each panel is a <section id="panel-..."> so that people and tests can find it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from backstop.console import links
from backstop.console.chart import drill_chart
from backstop.console.gather import ConsoleView, Panel
from backstop.reports import duration_text

STATUS_CLASS = {"green": "ok", "amber": "warn", "red": "bad"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
header{background:#1a365d;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;opacity:.85}nav a{color:#bee3f8;margin-right:14px}
main{padding:12px 20px;display:grid;gap:16px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px 16px;overflow-x:auto}
h2{margin:0 0 8px;font-size:17px}h3{margin:14px 0 6px;font-size:15px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #edf2f7;vertical-align:top}
th{background:#f7fafc;font-weight:600}code{font-size:12px}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.ok .pill,.pill.ok{background:#c6f6d5;color:#22543d}.warn .pill,.pill.warn{background:#fefcbf;color:#744210}
.bad .pill,.pill.bad{background:#fed7d7;color:#822727}.muted{color:#718096}
tr.delete td{background:#fff5f5}tr.ignore td{color:#718096}
.error{background:#fff5f5;border:1px solid #feb2b2;padding:8px;border-radius:6px;color:#822727}
.counts span{margin-right:14px}.chart .axis{font-size:11px;fill:#4a5568}
a.button{display:inline-block;padding:3px 10px;border-radius:6px;background:#2b6cb0;color:#fff;text-decoration:none}
"""


def page(view: ConsoleView) -> str:
    policy = view.policy
    body = [
        freshness_panel(view.panels["freshness"]),
        drills_panel(view.panels["drills"], view.extra.get("resilience")),
        restorable_panel(view.panels["restorable"]),
        retention_panel(view.panels["retention"], view.extra["quota"], policy.defaults.manual_snapshot_quota),
        audit_panel(view.panels["audit"], view.extra["restore_reports"], view.extra["instances"]),
    ]
    nav = " ".join(
        f'<a href="#panel-{key}" target="_self">{label}</a>'
        for key, label in (
            ("freshness", "Freshness"),
            ("drills", "Drills"),
            ("restorable", "Restorable now"),
            ("retention", "Retention"),
            ("audit", "Audit trail"),
        )
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Backstop DR console</title><style>{CSS}</style></head><body>"
        f"<header><h1>Backstop DR console</h1><p>{escape(policy.defaults.owner)} · report bucket "
        f"<code>{escape(policy.defaults.report_bucket)}</code> · connection "
        f"<code>{escape(policy.defaults.aws_conn_id or 'default')}</code> · read at {when(view.generated_at)}</p>"
        f"<nav>{nav}</nav></header><main>{''.join(body)}</main></body></html>"
    )


# -- helpers -------------------------------------------------------------------------------------


def when(value: Any) -> str:
    """UTC, to the minute (ISO strings from reports are shown as they are, cut to the minute)."""
    if value is None or value == "":
        return '<span class="muted">-</span>'
    if isinstance(value, datetime):
        value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    else:
        value = str(value).replace("T", " ")[:16] + " UTC"
    return escape(value)


def pill(status: str, text: str | None = None) -> str:
    return f'<span class="pill {STATUS_CLASS.get(status, status)}">{escape(text or status)}</span>'


def table(headers: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]]) -> str:
    """`rows`: (row class, cells already escaped)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>" for cls, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section(key: str, title: str, content: str) -> str:
    return f'<section id="panel-{key}"><h2>{escape(title)}</h2>{content}</section>'


def failed(panel: Panel) -> str:
    return f'<p class="error">Could not read this panel: {escape(panel.error or "")}</p>'


def code(value: Any) -> str:
    return f"<code>{escape(str(value))}</code>" if value not in (None, "") else '<span class="muted">-</span>'


def dur(seconds: Any) -> str:
    return escape(duration_text(seconds)) if seconds is not None else '<span class="muted">-</span>'


# -- (a) freshness -------------------------------------------------------------------------------


def freshness_panel(panel: Panel) -> str:
    title = "Backup freshness per resource and region"
    if panel.error:
        return section("freshness", title, failed(panel))
    report = panel.data
    if report is None:
        return section(
            "freshness",
            title,
            '<p class="muted">The freshness monitor has not written its evidence yet '
            "(<code>freshness/latest.json</code> in the report bucket).</p>",
        )
    counts = " ".join(pill(s, f"{s} {report.counts.get(s, 0)}") for s in ("green", "amber", "red"))
    rows = []
    for row in report.rows:
        drill = row.last_drill
        drill_text = (
            f"{pill('green' if drill.passed else 'red', 'passed' if drill.passed else 'failed')} "
            f"{escape(drill.name)} {when(drill.at)}"
            if drill
            else '<span class="muted">-</span>'
        )
        rows.append(
            (
                STATUS_CLASS[row.status],
                [
                    pill(row.status),
                    code(row.resource_id),
                    escape(row.region) + f' <span class="muted">({escape(row.role)})</span>',
                    code(row.newest_backup_id),
                    f"{dur(row.age_s)} / max {dur(row.max_age_s)}",
                    dur(row.rpo_s),
                    code(row.newest_verified_backup_id),
                    drill_text,
                    escape(row.reason),
                ],
            )
        )
    problems = "".join(f'<p class="error">{escape(p)}</p>' for p in report.problems)
    return section(
        "freshness",
        title,
        f'<p class="counts">{counts} <span class="muted">evaluated {when(report.generated_at)}</span></p>'
        + problems
        + table(
            [
                "status",
                "resource",
                "region",
                "newest backup",
                "age / max",
                "RPO target",
                "newest restore-verified",
                "last drill",
                "why",
            ],
            rows,
        ),
    )


# -- (b) drills ----------------------------------------------------------------------------------


def resilience_figures(run: dict[str, Any]) -> str:
    """What a resilience drill measured, in the words of the seed's RTO table."""
    kind = run.get("kind")
    if kind == "failover":
        azs = f"{escape(str(run.get('az_before')))} → {escape(str(run.get('az_after')))}"
        moved = f", {azs}" if run.get("az_before") else ""
        if run.get("writer_before"):  # an Aurora cluster: the writer moved (its AZ with it)
            writers = f"{escape(str(run.get('writer_before')))} → {escape(str(run.get('writer_after')))}"
            moved = f", writer {writers}" + (f" ({azs})" if run.get("az_before") else "")
        return (
            f"failover {dur(run.get('failover_seconds'))}, client downtime "
            f"{dur(run.get('client_downtime_seconds'))}{moved}"
        )
    if kind == "task_loss":
        return f"back at the desired count in {dur(run.get('recovery_seconds'))}"
    if kind == "rebuild":
        drift = run.get("drift")
        data = {True: "data verified", False: "data NOT verified"}.get(run.get("restore_passed"), "")
        return ", ".join(
            part
            for part in (
                f"total {dur(run.get('total_seconds'))}",
                f"{drift} drifted resource(s)" if drift is not None else "",
                data,
            )
            if part
        )
    return ""


def resilience_table(panel: Panel | None) -> str:
    if panel is None:
        return ""
    if panel.error:
        return "<h3>Resilience drills</h3>" + failed(panel)
    rows = [
        (
            "ok" if run.get("passed") else "bad",
            [
                when(run.get("finished_at")),
                escape(str(run.get("name"))),
                escape(str(run.get("kind"))),
                pill("green" if run.get("passed") else "red", "PASSED" if run.get("passed") else "FAILED"),
                resilience_figures(run),
                escape(run.get("failure") or "") if not run.get("passed") else "",
            ],
        )
        for run in panel.data or []
    ]
    if not rows:
        return "<h3>Resilience drills</h3><p>No failover, task-loss or rebuild drill has run yet.</p>"
    return "<h3>Resilience drills</h3>" + table(
        ["finished", "drill", "kind", "result", "measured", "failure"], rows
    )


def drills_panel(panel: Panel, resilience: Panel | None = None) -> str:
    title = "Restore drills: RTO and RPO against targets"
    if panel.error:
        return section("drills", title, failed(panel) + resilience_table(resilience))
    runs = panel.data or []
    rows = [
        (
            "ok" if run.passed else "bad",
            [
                when(run.finished_at),
                escape(run.name),
                code(run.source),
                pill("green" if run.passed else "red", "PASSED" if run.passed else "FAILED"),
                f"{dur(run.rto_seconds)} / {dur(run.rto_target)}",
                f"{dur(run.rpo_seconds)} / {dur(run.rpo_target)}",
                escape(run.failure or "") if not run.passed else "",
            ],
        )
        for run in reversed(runs)
    ]
    return section(
        "drills",
        title,
        drill_chart(runs)
        + (
            table(["finished", "drill", "source", "result", "RTO / target", "RPO / target", "failure"], rows)
            if rows
            else ""
        )
        + resilience_table(resilience),
    )


# -- (c) restorable now --------------------------------------------------------------------------


def restorable_panel(panel: Panel) -> str:
    title = "Restorable now"
    if panel.error:
        return section("restorable", title, failed(panel))
    rows = []
    for item in panel.data or []:
        copies = (
            "<br>".join(
                f"{escape(c.region)}: {code(c.snapshot_id)} {when(c.created_at) if c.snapshot_id else ''}"
                + (" " + pill("green", "restore-verified") if c.verified else "")
                if c.snapshot_id
                else f"{escape(c.region)}: {pill('red', 'no copy')}"
                for c in item.copies
            )
            or '<span class="muted">no DR region</span>'
        )
        window = (
            f"{when(item.earliest)} → {when(item.latest)}"
            if item.latest
            else f'<span class="error">{escape(item.problem or "unknown")}</span>'
        )
        conf = {"source": item.source}
        if item.latest:
            conf["restore_time"] = item.latest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        link = links.trigger_form("restore_point_in_time")
        rows.append(
            (
                "ok" if item.latest else "bad",
                [
                    code(item.source),
                    escape(item.region),
                    escape(item.status or "-"),
                    window,
                    f"{code(item.newest_snapshot)} {when(item.newest_snapshot_at) if item.newest_snapshot else ''}",
                    copies,
                    (
                        f'<a class="button restore-link" target="_top" href="{escape(link)}">Restore…</a>'
                        f'<br><code class="restore-conf">{escape(links.form_conf(conf))}</code>'
                        if item.in_form
                        else '<span class="muted">not in the form (no drill of it in the policy)</span>'
                    ),
                ],
            )
        )
    if not rows:
        return section(
            "restorable", title, '<p class="muted">The policy has no drills, so no restore form.</p>'
        )
    return section(
        "restorable",
        title,
        table(
            [
                "database",
                "region",
                "status",
                "point-in-time window",
                "newest snapshot",
                "newest DR copy",
                "restore_point_in_time",
            ],
            rows,
        )
        + '<p class="muted">Restore… opens <code>restore_point_in_time</code>; press Trigger there and paste '
        "the JSON under the form's Advanced options → Configuration JSON (the database and its latest "
        "restorable time). Nothing runs until you press Trigger in that form.</p>",
    )


# -- (d) retention and quota ---------------------------------------------------------------------


def retention_panel(panel: Panel, quota: Panel, quota_limit: int) -> str:
    title = "Retention plan and snapshot quota"
    parts = ["<h3>Manual snapshot quota per region</h3>"]
    if quota.error:
        parts.append(failed(quota))
    else:
        parts.append(
            table(
                ["region", "instance snapshots", "cluster snapshots", "quota", "use"],
                [
                    (
                        STATUS_CLASS[q.status],
                        [
                            escape(q.region),
                            str(q.instance_snapshots),
                            str(q.cluster_snapshots),
                            str(q.quota),
                            pill(q.status, f"{q.used / q.quota:.0%}" if q.quota else "?"),
                        ],
                    )
                    for q in quota.data or []
                ],
            )
        )
    parts.append("<h3>Latest retention plan</h3>")
    if panel.error:
        parts.append(failed(panel))
    elif panel.data is None:
        parts.append('<p class="muted">No retention plan has been written yet.</p>')
    else:
        plan = panel.data
        header = plan.header
        counts = plan.counts
        mode = "dry run (nothing deleted)" if header.get("dry_run") else "deleting run"
        parts.append(
            f"<p>{code(plan.key)} · planned for {when(header.get('now'))} · {escape(mode)} · run "
            f"{code(header.get('run_id'))}</p>"
            f'<p class="counts"><span>{pill("green", "keep " + str(counts.get("keep", 0)))}</span>'
            f"<span>{pill('red', 'delete ' + str(counts.get('delete', 0)))}</span>"
            f"<span>{pill('amber', 'ignore ' + str(counts.get('ignore', 0)))}</span>"
            f'<span class="muted">{counts.get("snapshots", "?")} snapshots</span></p>'
        )
        for halted in plan.halted:
            parts.append(f'<p class="error">halted: {escape(halted)}</p>')
        rows = [
            (
                escape(d.get("action", "")),
                [
                    code(d.get("snapshot_id")),
                    code(d.get("resource_id")),
                    escape(d.get("region", "")),
                    escape(d.get("age", "")),
                    pill(
                        {"keep": "green", "delete": "red"}.get(d.get("action"), "amber"),
                        d.get("action"),
                    ),
                    escape(d.get("reason", "")),
                ],
            )
            for d in plan.decisions
        ]
        parts.append(table(["snapshot", "database", "region", "age", "decision", "reason"], rows))
        if plan.truncated:
            parts.append(
                f'<p class="muted">Showing the first {len(plan.decisions)} decisions; the full plan is '
                f"{code(plan.key)}.</p>"
            )
    return section("retention", title, "".join(parts))


# -- (e) audit -----------------------------------------------------------------------------------


def audit_panel(runs: Panel, reports: Panel, instances: Panel) -> str:
    title = "Audit trail: manual restores and Terraform state restores"
    parts = []
    if runs.error:
        parts.append(failed(runs))
    else:
        rows = []
        for run in runs.data or []:
            what = _what_was_done(run)
            approval = (
                f"{pill('green' if run.approval == 'Approve' else 'amber', run.approval)} by "
                f"<strong class='approver'>{escape(run.approved_by or '?')}</strong> {when(run.approved_at)}"
                if run.approval and run.approval != "waiting"
                else (
                    f'{pill("amber", "waiting")} <a target="_top" href="{escape(links.required_actions())}">'
                    "Required Actions</a>"
                    if run.approval == "waiting"
                    else '<span class="muted">no approval step</span>'
                )
            )
            rows.append(
                (
                    {"success": "ok", "failed": "bad"}.get(run.state, "warn"),
                    [
                        when(run.started),
                        "Manual restore" if run.dag_id == "restore_point_in_time" else "Terraform state",
                        f'<a target="_top" href="{escape(links.dag_run(run.dag_id, run.run_id))}">'
                        f"{escape(run.run_id)}</a>",
                        escape(run.triggered_by or "-"),
                        _form_text(run.form),
                        pill({"success": "green", "failed": "red"}.get(run.state, "amber"), run.state),
                        approval,
                        what,
                    ],
                )
            )
        parts.append(
            table(
                ["started", "kind", "run", "triggered by", "asked for", "state", "approval", "what was done"],
                rows,
            )
            if rows
            else '<p class="muted">No manual restore or state restore has run.</p>'
        )
    parts.append("<h3>Manual restore reports</h3>")
    if reports.error:
        parts.append(failed(reports))
    elif not reports.data:
        parts.append('<p class="muted">No manual restore report yet (<code>reports/restores/</code>).</p>')
    else:
        parts.append(
            table(
                [
                    "finished",
                    "source",
                    "restored as",
                    "restore point",
                    "checks",
                    "result",
                    "approval",
                    "report",
                ],
                [
                    (
                        "ok" if r.get("passed") else "bad",
                        [
                            when(r.get("finished_at")),
                            code(r.get("source")),
                            code(r.get("instance_id")),
                            when(r.get("restore_point")),
                            escape(
                                ", ".join(
                                    f"{c.get('name')}={c.get('observed')}" for c in r.get("checks") or []
                                )
                            ),
                            pill(
                                "green" if r.get("passed") else "red",
                                "passed" if r.get("passed") else "failed",
                            ),
                            _report_approval(r),
                            code(r["key"]),
                        ],
                    )
                    for r in reports.data
                ],
            )
        )
    parts.append("<h3>Drill and restore instances still running</h3>")
    if instances.error:
        parts.append(failed(instances))
    elif not instances.data:
        parts.append(
            '<p class="muted">None: every drill instance was deleted and no manual restore is kept.</p>'
        )
    else:
        parts.append(
            table(
                ["instance", "region", "status", "purpose", "created", "expires"],
                [
                    (
                        "warn",
                        [
                            code(i.instance_id),
                            escape(i.region),
                            escape(i.status or "-"),
                            escape(i.purpose),
                            when(i.created),
                            escape(i.expires_at or "never (delete by hand)"),
                        ],
                    )
                    for i in instances.data
                ],
            )
        )
    return section("audit", title, "".join(parts))


def _form_text(form: dict[str, Any]) -> str:
    return "<br>".join(
        f"{escape(k)}: {code(', '.join(map(str, v)) if isinstance(v, list) else v)}"
        for k, v in form.items()
        if v not in (None, "", [])
    )


def _what_was_done(run: Any) -> str:
    out = []
    plan = run.results.get("plan") or {}
    if plan.get("instance_id"):
        out.append(f"restored to {when(plan.get('restore_point'))} as {code(plan['instance_id'])}")
    copy = run.results.get("copy_back")
    if copy is not None:
        copied = copy.get("copied") or []
        names = ", ".join(c.get("table", str(c)) if isinstance(c, dict) else str(c) for c in copied)
        out.append(f"copied back {code(names or 'nothing')}")
        if copy.get("kept_schema"):
            out.append(f"before-restore tables in schema {code(copy['kept_schema'])}")
    for task in ("write_backend", "write_local"):
        written = run.results.get(task)
        if written:
            out.append(
                f"serial {escape(str(written.get('serial')))} from {code(written.get('from'))} written to "
                f"{code(written.get('target'))}"
                + (" (read back byte-identical)" if written.get("byte_identical") else "")
            )
    return "<br>".join(out) or '<span class="muted">-</span>'


def _report_approval(report: dict[str, Any]) -> str:
    """The report's `decision` ({option, by, at}: written after the approval), when it has one."""
    decision = report.get("decision")
    if not isinstance(decision, dict):
        return '<span class="muted">-</span>'
    if not decision.get("option"):
        return escape(str(decision.get("note") or "no decision"))
    copied = (report.get("copy_back") or {}).get("copied") or []
    return (
        f"{escape(str(decision['option']))} by <strong>{escape(str(decision.get('by') or '?'))}</strong> "
        f"{when(decision.get('at'))}"
        + (f"<br>copied back {code(', '.join(map(str, copied)))}" if copied else "")
    )
