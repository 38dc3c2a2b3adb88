"""Where a restored database's PostgreSQL actually is: the seam between RDS and psycopg.

On AWS the answer is the endpoint RDS returns for the instance (`Endpoint.Address` and
`Endpoint.Port`), and that is what happens whenever no local data plane is configured.

Locally, the AWS emulator restores instances without any data (fake endpoints). The local
stack therefore runs an embedded PostgreSQL and says so EXPLICITLY, by configuration: the
environment variable `BACKSTOP_LOCAL_DATAPLANE` (or the Airflow Variable
`backstop_local_dataplane`) holds JSON

    {"host": "127.0.0.1", "port": 54321, "source_database": "triflow",
     "admin_dsn": "host=/tmp/bspg-x/sock port=54321 user=postgres dbname=postgres",
     "bin_dir": "/path/to/postgres/bin"}

With it, restoring an instance also clones the source database (`CREATE DATABASE
<clone> TEMPLATE <source_database>`, through `admin_dsn`), the restored instance maps to
that clone on host:port, and deleting the instance drops the clone. This is emulation of
RDS's data plane, documented as such in the README; no code path asks "am I on the
emulator", it only asks "did the operator configure a local data plane".
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

ENV_VAR = "BACKSTOP_LOCAL_DATAPLANE"
VARIABLE = "backstop_local_dataplane"


class DataPlaneConfigError(ValueError):
    """BACKSTOP_LOCAL_DATAPLANE is set but unusable."""


class DataPlaneUnreachable(ConnectionError):
    """The local data plane's server does not answer (stopped, crashed, wrong port)."""


@dataclass(frozen=True)
class PgTarget:
    """Where to connect with psycopg (no credentials here: those come from the secret)."""

    host: str
    port: int
    database: str
    emulated: bool = False

    def describe(self) -> str:
        suffix = " (local data plane emulation)" if self.emulated else ""
        return f"{self.host}:{self.port}/{self.database}{suffix}"

    def to_xcom(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "database": self.database, "emulated": self.emulated}


def local_config() -> dict[str, Any] | None:
    """The local data plane configuration, or None (the AWS path). Read at run time only."""
    raw = os.environ.get(ENV_VAR)
    if raw is None:
        try:
            from airflow.sdk import Variable

            raw = Variable.get(VARIABLE, default=None)
        except Exception:  # no API server / no such variable: not configured
            raw = None
    if not raw:
        return None
    try:
        config = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError) as exc:
        raise DataPlaneConfigError(f"{ENV_VAR} is not valid JSON: {exc}") from exc
    missing = [k for k in ("host", "port", "source_database", "admin_dsn") if not config.get(k)]
    if missing:
        raise DataPlaneConfigError(f"{ENV_VAR} lacks {missing}; see backstop/dataplane.py")
    return config


def clone_name(instance_id: str, region: str) -> str:
    """The emulated database of a restored instance: `rds_<region>_<identifier>`, underscored.

    The region is part of it: a PITR drill (source region) and a DR-copy drill (DR region) of one
    source restore instances of the same name, which must not share one emulated database.
    """
    return "rds_" + re.sub(r"[^a-z0-9_]", "_", f"{region}_{instance_id}".lower())[:59]


def instance_region(instance: dict[str, Any]) -> str:
    """The region of a described instance (from its ARN: arn:aws:rds:<region>:...)."""
    return str(instance.get("DBInstanceArn", "arn:aws:rds:unknown:")).split(":")[3]


def restored_target(instance: dict[str, Any], database: str) -> PgTarget:
    """Connection target of a restored instance (describe_db_instances item)."""
    config = local_config()
    if config is not None:
        return PgTarget(
            config["host"],
            int(config["port"]),
            clone_name(instance["DBInstanceIdentifier"], instance_region(instance)),
            True,
        )
    endpoint = instance.get("Endpoint") or {}
    if not endpoint.get("Address"):
        raise ValueError(f"RDS instance {instance['DBInstanceIdentifier']} has no endpoint yet")
    return PgTarget(endpoint["Address"], int(endpoint.get("Port") or 5432), database)


def cluster_target(cluster: dict[str, Any], database: str) -> PgTarget:
    """Connection target of an Aurora cluster's writer endpoint (describe_db_clusters item).

    Locally: the cluster's emulated database, `clone_name(<cluster id>, <region>)`.
    """
    config = local_config()
    if config is not None:
        region = str(cluster.get("DBClusterArn", "arn:aws:rds:unknown:")).split(":")[3]
        return PgTarget(
            config["host"], int(config["port"]), clone_name(cluster["DBClusterIdentifier"], region), True
        )
    if not cluster.get("Endpoint"):
        raise ValueError(f"Aurora cluster {cluster['DBClusterIdentifier']} has no endpoint yet")
    return PgTarget(cluster["Endpoint"], int(cluster.get("Port") or 5432), database)


def source_target(instance: dict[str, Any], database: str) -> PgTarget:
    """Connection target of the original (source) database, for copy-back."""
    config = local_config()
    if config is not None:
        return PgTarget(config["host"], int(config["port"]), config["source_database"], True)
    endpoint = instance.get("Endpoint") or {}
    return PgTarget(endpoint["Address"], int(endpoint.get("Port") or 5432), database)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def on_restored(instance_id: str, region: str) -> str | None:
    """Local data plane only: clone the source database for a just-restored instance.

    Returns the clone's name, or None on the AWS path (RDS did the restore). A clone left by
    an earlier try of the same instance is replaced.
    """
    return _reset_clone(instance_id, region, clone_source=True)


def on_deleted(instance_id: str, region: str) -> str | None:
    """Local data plane only: drop the clone of a deleted instance."""
    return _reset_clone(instance_id, region, clone_source=False)


def _reset_clone(instance_id: str, region: str, *, clone_source: bool) -> str | None:
    """Drop the instance's clone, then (clone_source) create it afresh from the source database."""
    config = local_config()
    if config is None:
        return None
    import psycopg

    name = clone_name(instance_id, region)
    try:
        conn = psycopg.connect(config["admin_dsn"], autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DataPlaneUnreachable(f"cannot reach the local data plane for {name}: {exc}") from exc
    with conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
        if clone_source:
            conn.execute(f"CREATE DATABASE {_quote(name)} TEMPLATE {_quote(config['source_database'])}")
    return name


def pg_bin(tool: str) -> str:
    """Path of a PostgreSQL client tool (pg_dump, psql): the data plane's bin_dir, else PATH."""
    import shutil

    config = local_config() or {}
    if config.get("bin_dir"):
        candidate = os.path.join(config["bin_dir"], tool)
        if os.path.exists(candidate):
            return candidate
    found = shutil.which(tool)
    if not found:
        raise FileNotFoundError(f"{tool} is not on PATH; install the PostgreSQL client tools on the worker")
    return found
