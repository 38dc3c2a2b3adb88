"""Runbook 2 by hand: the manual point-in-time restore's planner and the copy-back of tables.

`ManualRestorePlanOperator` turns the restore form into a `RestorePlan` (or refuses it before
anything is created); restore, wait, verify and report are the drill's steps. After a human
approves, `CopyBackOperator` copies the chosen tables from the restored instance into the
original. The restored instance is kept (tagged `backstop:purpose=manual-restore`, not as a
drill, so the orphan sweeper never deletes it).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator
from backstop.aws.hooks import RDS_HOOK, LazyHookClass
from backstop.aws.rds_instances import describe_instance, earliest_automated_restore_time
from backstop.drills import planning
from backstop.drills.steps import PlanStepOperator, push_plan
from backstop.drills.times import iso
from backstop.policy.drill_views import DrillSpec

DEFAULT_INSTANCE_CLASS = "db.t4g.medium"
KEEP_SCHEMA_PREFIX = "backstop_before_restore_"


def keep_schema_name(started: datetime) -> str:
    """Where copy-back moves the replaced tables: named from the plan's start (UTC), so the
    approval page can name it before anything is moved, and every attempt of a run agrees."""
    return f"{KEEP_SCHEMA_PREFIX}{started.astimezone(UTC):%Y%m%d%H%M%S}"


class ManualRestorePlanOperator(BackstopAwsOperator):
    """Runbook 2's form, checked before anything is created: the plan of a manual PITR restore.

    Reads the run's params: source, restore_time (UTC, ISO 8601; empty = latest restorable),
    target_instance_id, instance_class, checks, tables. The restore time must lie in the
    source's restorable window; otherwise the task fails with the valid window and nothing is
    created.

    :param sources: source instance id -> the drill spec whose region, database, credentials
        and checks a restore of it uses (`backstop.policy.drill_views.restore_form`).
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)

    def __init__(
        self, *, sources: dict[str, DrillSpec], max_lifetime_seconds: float = 86400, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.sources = sources
        self.max_lifetime_seconds = max_lifetime_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        params = context["params"]
        source_id = params.get("source")
        self.resource_id = str(source_id or "-")  # what a failure alert names
        instance_class = params.get("instance_class") or DEFAULT_INSTANCE_CLASS
        started = datetime.now(UTC)
        if source_id not in self.sources:
            raise AirflowFailException(f"unknown source {source_id!r}; choose one of {sorted(self.sources)}")
        spec = self.sources[source_id]
        tables = planning.valid_tables(list(params.get("tables") or []))
        wanted = planning.requested_time(params.get("restore_time"))
        client = self.client(spec.region)
        source = describe_instance(client, source_id)
        if source is None:
            raise AirflowFailException(f"source {source_id} does not exist in {spec.region}")
        window = planning.restorable_window(
            source, earliest_automated_restore_time(client, source_id), started
        )
        planning.check_in_window(source_id, wanted, window)
        target = planning.manual_target(source_id, params.get("target_instance_id"), started)
        if describe_instance(client, target) is not None:
            raise AirflowFailException(f"an instance named {target} already exists; choose another target id")
        plan = planning.manual_plan(
            spec,
            instance_id=target,
            instance_class=instance_class,
            run_id=str(context["run_id"]),
            started=started,
            lifetime_seconds=self.max_lifetime_seconds,
            source=source,
            window=window,
            wanted=wanted,
            checks=planning.chosen_checks(spec.checks, list(params.get("checks") or [])),
            tables=tables,
        )
        self.log.info(
            "Restore %s to %s into %s (%s); window %s .. %s",
            source_id,
            iso(plan.restore_point) + (" (latest)" if wanted is None else ""),
            target,
            instance_class,
            iso(window.earliest),
            iso(window.latest),
        )
        context["ti"].xcom_push(key="keep_schema", value=keep_schema_name(plan.started_at))
        return push_plan(context, plan)


class CopyBackOperator(PlanStepOperator):
    """Runbook 2 option B: copy chosen tables from the restored instance into the original.

    For each `schema.table`: `pg_dump -t` from the restored database, then in ONE transaction
    on the original: move the current table into schema `backstop_before_restore_<ts>` (its
    indexes, constraints and identity sequence move with it, so nothing is lost and the names
    do not clash) and load the dump. Run only after approval. Passwords go to pg_dump/psql
    through PGPASSWORD in the child's environment, never on a command line.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.drills import dataplane

        plan = self.restore_plan
        tables = list(plan.tables)
        if not tables:
            return {"copied": [], "kept_schema": None}
        client = self.client(plan.region)
        restored = describe_instance(client, plan.instance_id)
        original = describe_instance(client, plan.source)
        if restored is None or original is None:
            raise AirflowFailException("both the restored instance and the original must exist for copy-back")
        src = dataplane.restored_target(restored, plan.database)
        dst = dataplane.source_target(original, plan.database)
        creds = self.credentials(plan)
        keep_schema = keep_schema_name(plan.started_at)
        env = {**os.environ, "PGPASSWORD": creds.password, "PGCONNECT_TIMEOUT": "15"}
        with tempfile.TemporaryDirectory(prefix="backstop-copyback-") as tmp:
            script = os.path.join(tmp, "copy_back.sql")
            with open(script, "w", encoding="utf-8") as out:
                out.write(f'CREATE SCHEMA "{keep_schema}";\n')
                for table in tables:
                    schema, name = table.split(".")
                    out.write(f'ALTER TABLE "{schema}"."{name}" SET SCHEMA "{keep_schema}";\n')
            for table in tables:
                dump = os.path.join(tmp, f"{table}.sql")
                self._run(
                    [
                        dataplane.pg_bin("pg_dump"),
                        *_connection_args(src, creds.username),
                        "--no-owner",
                        "--no-privileges",
                        "-t",
                        table,
                        "-f",
                        dump,
                    ],
                    env,
                    f"pg_dump of {table} from {src.describe()}",
                )
                with open(script, "a", encoding="utf-8") as out, open(dump, encoding="utf-8") as dumped:
                    out.write(f"\\echo loading {table}\n")
                    out.write(dumped.read())
                    out.write("\n")
            self._run(
                [
                    dataplane.pg_bin("psql"),
                    *_connection_args(dst, creds.username),
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--single-transaction",
                    "-f",
                    script,
                ],
                env,
                f"loading into {dst.describe()}",
            )
        self.log.info(
            "Copied %s into %s; the replaced tables are kept in schema %s",
            tables,
            dst.describe(),
            keep_schema,
        )
        return {"copied": tables, "kept_schema": keep_schema, "into": dst.to_xcom()}

    def _run(self, argv: list[str], env: dict[str, str], what: str) -> None:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise AirflowException(f"{what} failed ({done.returncode}): {redact_pg_error(done.stderr)}")


def redact_pg_error(stderr: str) -> str:
    """The ERROR lines of pg_dump/psql output, without row data.

    PostgreSQL puts row values in DETAIL/CONTEXT lines ("Key (email)=(a@b.c) already exists",
    "COPY workflows, line 3: ..."); those go to no exception, log line or Slack alert.
    """
    kept = []
    for line in stderr.splitlines():
        text = line.strip()
        if "ERROR:" in text or "FATAL:" in text or text.startswith(("pg_dump:", "psql:")):
            kept.append(re.sub(r"\(([^()]*)\)=\(([^()]*)\)", r"(\1)=(...)", text.split("DETAIL:")[0]))
    return ("; ".join(kept) or "(no error line; see the task log for the exit code)")[:500]


def _connection_args(target: Any, username: str) -> list[str]:
    """pg_dump/psql options reaching a PgTarget as `username` (the password travels in PGPASSWORD)."""
    return ["-h", target.host, "-p", str(target.port), "-U", username, "-d", target.database]
