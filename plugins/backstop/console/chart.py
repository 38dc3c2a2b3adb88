"""The drill chart: RTO and RPO of each drill run as a share of its target, inline SVG.

RTO is seconds to hours and RPO seconds to days, so raw values on one axis would flatten one of
them; against its own target every measure reads the same way: under the 100 % line is met.
Bars are RTO, dots are RPO; red is a missed target or a failed drill. Each mark has a <title>
(the browser's tooltip) with the run, the value and the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from backstop.console.evidence import DrillRun
from backstop.reports import duration_text

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 40
CAP = 2.0  # values above 200 % of target are drawn at the top edge
GREEN, RED, GREY = "#2f855a", "#c53030", "#718096"


def share(value: float | None, target: float | None) -> float | None:
    if value is None or not target:
        return None
    return value / target


def drill_chart(runs: Sequence[DrillRun]) -> str:
    if not runs:
        return '<p class="muted">No drill has reported yet.</p>'
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(runs)

    def y(ratio: float) -> float:
        return TOP + plot_h * (1 - min(ratio, CAP) / CAP)

    parts = [
        f'<svg class="chart" role="img" aria-label="Drill RTO and RPO as a share of target" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for ratio in (0, 0.5, 1.0, 1.5, 2.0):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(ratio):.1f}" y2="{y(ratio):.1f}" '
            f'stroke="{"#1a202c" if ratio == 1.0 else "#e2e8f0"}" '
            f'stroke-dasharray="{"6 4" if ratio == 1.0 else "0"}"/>'
            f'<text x="{LEFT - 6}" y="{y(ratio) + 4:.1f}" text-anchor="end" class="axis">{int(ratio * 100)}%</text>'
        )
    for i, run in enumerate(runs):
        cx = LEFT + step * (i + 0.5)
        rto = share(run.rto_seconds, run.rto_target)
        rpo = share(run.rpo_seconds, run.rpo_target)
        when = (run.finished_at or "")[:10]
        label = f"{run.name} {when} {'PASSED' if run.passed else 'FAILED'}"
        bar_w = max(min(step * 0.45, 28), 3)
        if rto is not None:
            colour = GREEN if rto <= 1 and run.passed else RED
            top = y(rto)
            parts.append(
                f'<rect class="rto" x="{cx - bar_w / 2:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                f'height="{max(y(0) - top, 1):.1f}" fill="{colour}" opacity="0.8">'
                f"<title>{escape(label)}: RTO {duration_text(run.rto_seconds)} of "
                f"{duration_text(run.rto_target)} ({rto:.0%})</title></rect>"
            )
        elif not run.passed:
            parts.append(
                f'<text x="{cx:.1f}" y="{y(0) - 4:.1f}" text-anchor="middle" fill="{RED}" class="axis">'
                f"<title>{escape(label)}: no measure ({escape(run.failed_step or '?')})</title>×</text>"
            )
        if rpo is not None:
            colour = GREEN if rpo <= 1 and run.passed else RED
            parts.append(
                f'<circle class="rpo" cx="{cx:.1f}" cy="{y(rpo):.1f}" r="5" fill="white" stroke="{colour}" '
                f'stroke-width="3"><title>{escape(label)}: RPO {duration_text(run.rpo_seconds)} of '
                f"{duration_text(run.rpo_target)} ({rpo:.0%})</title></circle>"
            )
        if len(runs) <= 12 or i % max(len(runs) // 12, 1) == 0:
            parts.append(
                f'<text x="{cx:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" class="axis">'
                f"{escape(when[5:] or '?')}</text>"
            )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 6}" class="axis">bars: RTO · dots: RPO · dashed line: target (100%)</text>'
        "</svg>"
    )
    return "".join(parts)
