"""Prepare the metadata DB of `make up`: migrate it, then store airflow_settings.yaml in it.

Connections, pools and variables go into the metadata DB (not AIRFLOW_CONN_* variables) so
Admin -> Connections / Pools / Variables shows them. Placeholders (`${BACKSTOP_AWS_ENDPOINT_URL}`)
are filled from the running stack; nothing secret is committed (the file holds the emulator's
dummy keys and the Slack recorder's token). One process does both steps: importing Airflow
costs seconds, so two CLI calls per kind of setting would slow `make up` down.

Run in the environment of the Airflow processes (AIRFLOW_HOME set before Airflow is imported)::

    python -m include.local.metadata [--settings airflow_settings.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from include.local.settings import DEFAULT_SETTINGS_PATH, Settings, load_settings


def store_settings(settings: Settings) -> dict[str, int]:
    """Create or replace each connection, pool and variable; returns how many of each."""
    # The ORM models, not airflow.sdk's: this writes the metadata DB (set-up, not task code).
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        for conn in settings.connections:
            session.execute(delete(Connection).where(Connection.conn_id == conn.conn_id))
            session.add(
                Connection(
                    conn_id=conn.conn_id,
                    conn_type=conn.conn_type,
                    description="local stack (airflow_settings.yaml)",
                    host=conn.host,
                    schema=conn.schema,
                    login=conn.login,
                    password=conn.password,
                    port=conn.port,
                    extra=json.dumps(conn.extra) if conn.extra else None,
                )
            )
    for pool in settings.pools:
        Pool.create_or_update_pool(pool.name, pool.slots, pool.description, pool.include_deferred)
    for name, value in settings.variables.items():
        Variable.set(name, value, serialize_json=not isinstance(value, str))
    return {
        "connections": len(settings.connections),
        "pools": len(settings.pools),
        "variables": len(settings.variables),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.local.metadata")
    parser.add_argument("--settings", default=str(DEFAULT_SETTINGS_PATH))
    args = parser.parse_args(argv)
    settings = load_settings(args.settings, os.environ)  # before Airflow: a bad file fails fast

    from airflow.utils import db
    from airflow.utils.providers_configuration_loader import providers_configuration_loaded

    providers_configuration_loaded(db.initdb)()  # create, or migrate an existing DB
    counts = store_settings(settings)
    print("metadata DB ready: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
