"""The pieces the Celery topology and the compose `local` profile add to the local stack, run here.

The "creating" proxy (include/local/creating_proxy.py) in process, against the moto server, with
a clock the test moves; and the compose seed service (include/local/compose_seed.py) against the
moto server and an embedded PostgreSQL standing in for the compose `dataplane` service.
"""

from __future__ import annotations

import threading
import urllib.request

import boto3
import pytest

from include.local.creating_proxy import make_server

SOURCE = "triflow-ai-production-db"


def _rds(endpoint: str, region: str = "ap-northeast-2"):
    return boto3.client(
        "rds",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",  # the emulator's dummy keys
        aws_secret_access_key="testing",
    )


@pytest.fixture
def proxy(local_stack, fleet):
    clock = {"now": 1000.0}
    server = make_server(local_stack.aws_endpoint_url, 30, now=lambda: clock["now"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", clock, server.clock
    finally:
        server.shutdown()
        server.server_close()


def _status(client, snapshot_id: str) -> str:
    return client.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0]["Status"]


def test_the_proxy_keeps_a_new_snapshot_creating_until_its_time_is_up(proxy, local_stack):
    url, clock, state = proxy
    through_proxy, direct = _rds(url), _rds(local_stack.aws_endpoint_url)
    through_proxy.create_db_snapshot(DBInstanceIdentifier=SOURCE, DBSnapshotIdentifier="proxy-snap")
    assert _status(through_proxy, "proxy-snap") == "creating"
    assert _status(direct, "proxy-snap") == "available"  # moto itself is unchanged
    clock["now"] += 29
    assert _status(through_proxy, "proxy-snap") == "creating"
    clock["now"] += 1
    assert _status(through_proxy, "proxy-snap") == "available"
    assert state.stats()["rewritten"] == 2


def test_the_proxy_times_each_region_on_its_own_clock(proxy):
    url, clock, _ = proxy
    seoul, tokyo = _rds(url), _rds(url, "ap-northeast-1")
    seoul.create_db_snapshot(DBInstanceIdentifier=SOURCE, DBSnapshotIdentifier="proxy-copy")
    clock["now"] += 40
    assert _status(seoul, "proxy-copy") == "creating"  # first seen only now
    clock["now"] += 30
    assert _status(seoul, "proxy-copy") == "available"
    arn = seoul.describe_db_snapshots(DBSnapshotIdentifier="proxy-copy")["DBSnapshots"][0]["DBSnapshotArn"]
    tokyo.copy_db_snapshot(
        SourceDBSnapshotIdentifier=arn,
        TargetDBSnapshotIdentifier="proxy-copy",
        SourceRegion="ap-northeast-2",
        KmsKeyId="alias/backstop-dr",
    )
    assert _status(tokyo, "proxy-copy") == "creating"  # same name, other region: its own clock


def test_other_calls_pass_through_unchanged(proxy, local_stack):
    url, _, state = proxy
    through_proxy = _rds(url)
    instances = through_proxy.describe_db_instances()["DBInstances"]
    assert SOURCE in {i["DBInstanceIdentifier"] for i in instances}
    assert all(i["DBInstanceStatus"] == "available" for i in instances)
    assert state.stats()["describe_answers"] == 0


def test_the_compose_seed_service_seeds_the_emulator_and_the_data_plane(local_stack, tmp_path):
    import psycopg

    from include.local.compose_seed import seed
    from include.local.dataplane import LocalDataPlane

    reset = urllib.request.Request(f"{local_stack.aws_endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    plane = LocalDataPlane(tmp_path / "pg").start()
    try:
        summary = seed(local_stack.aws_endpoint_url, plane.admin_dsn)
        assert _rds(local_stack.aws_endpoint_url).describe_db_instances(DBInstanceIdentifier=SOURCE)
        role = summary["dataplane"]["role"]
        from include.local.dataplane import master_credentials
        from include.local.fleet import DB_MASTER_SECRET

        creds = master_credentials(local_stack.aws_endpoint_url, DB_MASTER_SECRET)
        # The master role logs in over TCP with the secret's password, and owns real rows.
        with psycopg.connect(
            host="127.0.0.1", port=plane.port, user=role, password=creds["password"], dbname="triflow"
        ) as conn:
            assert conn.execute("SELECT count(*) FROM core.workflows").fetchone()[0] == 120
        # Idempotent: a second run (a restarted compose service) adopts everything.
        assert seed(local_stack.aws_endpoint_url, plane.admin_dsn)["dataplane"]["role"] == role
    finally:
        plane.destroy()
