"""Drill checks cannot change the restored database (issue "Trust", risks): each runs in its own
READ ONLY transaction on the real embedded PostgreSQL, so one check turning the session's
read-only default off does not let the next one delete rows."""

from __future__ import annotations

from datetime import UTC, datetime

from backstop.drills.checks import Credentials, run_checks
from backstop.drills.dataplane import PgTarget
from backstop.policy.drill_views import CheckSpec

ROLE, PASSWORD, DATABASE = "check_probe", "probe-password-1", "check_probe_db"


def _database(pg_plane) -> PgTarget:
    """A database owned by a login role (so only read-only stands between a check and a DELETE)."""
    with pg_plane.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {ROLE} WITH LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
    with pg_plane.connect(DATABASE) as conn:
        conn.execute("CREATE TABLE rows_kept (id int)")
        conn.execute("INSERT INTO rows_kept SELECT generate_series(1, 7)")
        conn.execute(f"ALTER TABLE rows_kept OWNER TO {ROLE}")
    return PgTarget(host=pg_plane.config()["host"], port=int(pg_plane.config()["port"]), database=DATABASE)


def test_a_check_cannot_switch_off_read_only_for_the_next(pg_plane):
    target = _database(pg_plane)

    results = run_checks(
        target,
        Credentials(ROLE, PASSWORD),
        [
            CheckSpec(
                name="unlock",
                sql="SELECT length(set_config('default_transaction_read_only', 'off', false))",
                min_rows=0,
            ),
            CheckSpec(
                name="delete",
                sql="WITH gone AS (DELETE FROM rows_kept RETURNING 1) SELECT count(*) FROM gone",
                min_rows=0,
            ),
        ],
        datetime.now(UTC),
    )

    assert results[1].passed is False, results
    assert "read-only" in results[1].message
    with pg_plane.connect(DATABASE) as conn:
        assert conn.execute("SELECT count(*) FROM rows_kept").fetchone()[0] == 7
