"""The manual restore's form (Params) and its approval text, built from the policy at parse time.

Why here and not inline in the DAG file: the form is policy-driven (sources, checks and
tables are pick-lists of what the policy knows) and its rules are tested on their own
(tests/drills/test_restore_forms.py). The JSON schema does the first check in the browser and
again when the run is created, so a bad value is refused before anything runs; the planner
then checks what only AWS can know (the restorable window, a free instance id).

Optional fields accept null and default to it, so the UI shows no required star on them.
"""

from __future__ import annotations

from typing import Any

from backstop.drills.planning import TABLE_PATTERN
from backstop.policy.drill_views import RestoreForm

# RDS instance identifier that the IAM policy lets Backstop tag (and later delete): a restore's
# name must contain "-restore-" (include/iam/README.md); 63 characters at most.
TARGET_ID_PATTERN = r"^[a-zA-Z][a-zA-Z0-9-]*-restore-[a-zA-Z0-9-]*[a-zA-Z0-9]$"
INSTANCE_CLASS_PATTERN = r"^db\.[a-z0-9]+\.[a-z0-9]+$"
# RFC 3339 with seconds and a zone, as `format: date-time` wants (checked in the browser too)
DATE_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


def restore_params(form: RestoreForm) -> dict[str, Any]:
    from airflow.sdk import Param

    tables_items: dict[str, Any] = (
        {"type": "string", "enum": form.table_names}
        if form.table_names
        else {"type": "string", "pattern": TABLE_PATTERN}
    )
    tables_extra: dict[str, Any] = {"examples": form.table_names} if form.table_names else {}
    return {
        "source": Param(
            form.source_names[0],
            type="string",
            enum=form.source_names,
            title="Source database",
            description="The RDS instance to restore (each source a drill in the policy protects).",
        ),
        "restore_time": Param(
            None,
            type=["null", "string"],
            format="date-time",
            pattern=DATE_TIME_PATTERN,
            title="Restore to (date-time)",
            description="A moment inside the source's restorable window, e.g. 2026-11-22T01:30:00Z "
            "(UTC) or 2026-11-22T10:30:00+09:00. Empty: the latest restorable time.",
        ),
        "target_instance_id": Param(
            None,
            type=["null", "string"],
            pattern=TARGET_ID_PATTERN,
            maxLength=63,
            title="New instance id",
            description="Name of the restored instance; must contain '-restore-' (letters, digits, "
            "hyphens; up to 63). Empty: <source>-restore-<YYYYMMDDHHMM>.",
        ),
        "instance_class": Param(
            "db.t4g.medium",
            type="string",
            pattern=INSTANCE_CLASS_PATTERN,
            title="Instance class",
            description="Instance class of the restored instance, e.g. db.t4g.medium.",
        ),
        "checks": Param(
            form.check_names,
            type="array",
            items={"type": "string", "enum": form.check_names},
            examples=form.check_names,
            uniqueItems=True,
            title="Data checks",
            description="Checks from the policy to run on the restored database. None chosen: all "
            "of the source's checks.",
        ),
        "tables": Param(
            [],
            type="array",
            items=tables_items,
            uniqueItems=True,
            title="Tables to copy back (after approval)",
            description="Tables to copy from the restored instance into the ORIGINAL database once "
            "someone approves (Required Actions). None chosen: restore and verify only.",
            **tables_extra,
        ),
    }


APPROVAL_SUBJECT = (
    "Copy {{ params.tables | join(', ') }} back into {{ params.source }}? (overwrites the original tables)"
)

# Markdown, one point per line. Everything it names comes from this run's plan and verify steps;
# the kept schema is the one copy_back will use (named from the plan's start).
APPROVAL_BODY = """\
{% set plan = ti.xcom_pull(task_ids='plan') %}{% set verified = ti.xcom_pull(task_ids='verify') or {} -%}
**Approve** copies these tables from the restored instance into the ORIGINAL database:

{% for t in params.tables %}- `{{ t }}` in database `{{ plan['database'] }}` of `{{ params.source }}` will be **overwritten**
{% endfor %}
- The current tables are **kept**, not dropped: moved to schema `{{ ti.xcom_pull(task_ids='plan', key='keep_schema') }}`
- The rows come from `{{ plan['instance_id'] }}`, restored to {{ plan['restore_point'] }} (UTC)

Checks on the restored copy:

{% for c in verified.get('checks', []) %}- `{{ c.name }}`: {{ c.observed }} ({{ 'ok' if c.passed else 'FAILED' }})
{% endfor %}
**Reject** leaves the original untouched. Either way the restored instance is kept for
investigation; delete it by hand when done. The decision and its author go into the report.
"""
