"""The `backstop-local-seed` service of docker-compose.yaml's `local` profile.

Seeds the emulated account with the TriFlow fleet (include/local/fleet.py) and the data-plane
PostgreSQL service with the demo database `triflow` and the master role whose password is the
fleet's Secrets Manager secret: what `make up` and `make demo` get from the local stack. Talks
only to the emulator and the data-plane database it is given; idempotent.

CLI::

    python -m include.local.compose_seed --aws-endpoint-url http://aws-emulator:5000 \
        --dataplane-dsn "host=dataplane user=postgres password=... dbname=postgres"
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from include.local.dataplane import LocalDataPlane, master_credentials


class DsnDataPlane(LocalDataPlane):
    """A data plane someone else runs (the compose `dataplane` service), reached by a libpq DSN."""

    def __init__(self, dsn: str) -> None:
        super().__init__(base_dir="/nonexistent")
        self.dsn = dsn

    def connect(self, database: str = "postgres", autocommit: bool = True) -> Any:
        import psycopg

        return psycopg.connect(self.dsn, dbname=database, autocommit=autocommit)


def seed(aws_endpoint_url: str, dataplane_dsn: str | None = None) -> dict[str, Any]:
    from include.local.fleet import DB_MASTER_SECRET, seed_fleet

    summary = seed_fleet(aws_endpoint_url)
    if dataplane_dsn:
        plane = DsnDataPlane(dataplane_dsn)
        creds = master_credentials(aws_endpoint_url, DB_MASTER_SECRET)
        plane.seed_source()
        plane.ensure_role(creds["username"], creds["password"])
        summary["dataplane"] = {"database": "triflow", "role": creds["username"]}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.local.compose_seed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--aws-endpoint-url", required=True)
    parser.add_argument("--dataplane-dsn", help="libpq DSN of the data-plane PostgreSQL (admin role)")
    args = parser.parse_args(argv)
    summary = seed(args.aws_endpoint_url, args.dataplane_dsn)
    print(json.dumps({k: v for k, v in summary.items() if k != "secret_arn"}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
