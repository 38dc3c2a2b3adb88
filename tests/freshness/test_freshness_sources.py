"""Sources against moto: drills, restore-verified copies, selectors, and a kind plugged in by a test.

`write_freshness_report` is the plain function the DR console's tests seed their page with;
here it runs against the emulator with the shipped policy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from backstop.freshness import registry
from backstop.freshness.evidence import read_latest
from backstop.freshness.monitor import evaluate, write_freshness_report
from backstop.freshness.registry import Found, Target
from backstop.freshness.status import Facts
from backstop.naming import RESTORE_VERIFIED_TAG
from backstop.policy import parse_policy
from tests.dag_loading import shipped_policy
from tests.freshness.world import ANALYTICS, BUCKET, DR, PRIMARY, PROD, World


@pytest.fixture
def world(fleet, local_stack) -> World:
    return World(local_stack.aws_endpoint_url)


@pytest.fixture
def factory(local_stack):
    clients: dict = {}

    def make(service: str, region: str):
        if (service, region) not in clients:
            clients[service, region] = boto3.client(
                service, region_name=region, endpoint_url=local_stack.aws_endpoint_url
            )
        return clients[service, region]

    return make


def _drill_report(world: World, key: str, **fields) -> None:
    world.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(fields).encode())


def test_rows_carry_the_latest_drill_and_the_newest_restore_verified_copy(world, factory):
    prod = world.all_fresh_but_production_dr()
    world.copy_to_dr(prod, f"{PROD}-weekly-20261122")
    world.rds_dr.add_tags_to_resource(
        ResourceName=world.rds_dr.describe_db_snapshots(DBSnapshotIdentifier=f"{PROD}-weekly-20261122")[
            "DBSnapshots"
        ][0]["DBSnapshotArn"],
        Tags=[{"Key": RESTORE_VERIFIED_TAG, "Value": "true"}],
    )
    drills = "reports/drills"
    _drill_report(world, f"{drills}/20261101/production-dr-copy-manual__1.json", passed=False)
    _drill_report(
        world,
        f"{drills}/20261122/production-dr-copy-scheduled__2.json",
        passed=True,
        finished_at="2026-11-22T03:20:00+00:00",
        rto_seconds=2.0,
        rpo_seconds=0.0,
    )
    _drill_report(world, f"{drills}/20261122/production-pitr-scheduled__2.json", passed=False)

    report = write_freshness_report(parse_policy(shipped_policy()), factory, run_id="console-seed")

    rows = {(r.resource_id, r.region): r for r in report.rows}
    dr_row = rows[(PROD, DR)]
    assert dr_row.status == "green"
    assert dr_row.newest_verified_backup_id == f"{PROD}-weekly-20261122"
    assert dr_row.last_drill.name == "production-dr-copy"
    assert (dr_row.last_drill.passed, dr_row.last_drill.rto_s) == (True, 2.0)
    assert dr_row.last_drill.at == datetime(2026, 11, 22, 3, 20, tzinfo=UTC)
    source_row = rows[(PROD, PRIMARY)]
    assert source_row.status == "amber"
    assert "latest restore drill production-pitr FAILED" in source_row.reason
    assert source_row.newest_verified_backup_id is None
    assert rows[(ANALYTICS, PRIMARY)].kind == "aurora_cluster"  # found by its tag selector
    assert read_latest(world.s3, BUCKET) == report


def test_a_snapshot_of_another_policy_or_unmanaged_does_not_count(world, factory):
    world.all_fresh_but_production_dr()
    world.rds.create_db_snapshot(DBInstanceIdentifier=PROD, DBSnapshotIdentifier="dba-before-upgrade")
    world.rds_dr.copy_db_snapshot(  # an unmanaged copy in the DR region
        SourceDBSnapshotIdentifier=world.rds.describe_db_snapshots(DBSnapshotIdentifier="dba-before-upgrade")[
            "DBSnapshots"
        ][0]["DBSnapshotArn"],
        TargetDBSnapshotIdentifier="dba-before-upgrade",
        SourceRegion=PRIMARY,
        KmsKeyId="alias/backstop-dr",
    )
    report = write_freshness_report(parse_policy(shipped_policy()), factory)
    dr_row = next(r for r in report.rows if (r.resource_id, r.region) == (PROD, DR))
    assert (dr_row.status, dr_row.newest_backup_id) == ("red", None)


class _FakeSource:
    """A kind another helper would add as one module in backstop/freshness/sources/."""

    kinds = ("test_queue",)

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def targets(self, policy):
        return []

    def collect(self, targets, env):
        if self.fail:
            raise PermissionError("AccessDenied in ap-northeast-1")
        return [
            Found(
                target=t,
                resource_id=t.resource,
                facts=Facts(
                    role=t.role_of(region),
                    region=region,
                    newest_backup_id="b1",
                    newest_backup_at=env.now,
                    max_age_s=t.max_age_s,
                ),
            )
            for t in targets
            for region in t.regions
        ]


@pytest.fixture
def plug_in():
    added = []

    def plug(source):
        registry.register(source)
        added.extend(source.kinds)

    yield plug
    for kind in added:
        registry._REGISTRY.pop(kind, None)


def _target(kind: str = "test_queue") -> Target:
    return Target(
        policy="q",
        kind=kind,
        resource="jobs",
        regions=(PRIMARY, DR),
        max_age_s=3600.0,
        overdue_after_s=None,
        rpo_s=None,
        channel="#c",
    )


def test_a_registered_kind_is_evaluated_like_rds(world, factory, plug_in):
    plug_in(_FakeSource())
    report = evaluate(
        [_target()],
        [],
        client_factory=factory,
        report_bucket=BUCKET,
        report_region=PRIMARY,
        now=datetime.now(UTC),
    )
    assert [(r.kind, r.region, r.role, r.status) for r in report.rows] == [
        ("test_queue", PRIMARY, "source", "green"),
        ("test_queue", DR, "dr", "green"),
    ]
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(_FakeSource())


def test_a_failing_source_gives_red_could_not_check_rows_not_silence(world, factory, plug_in):
    plug_in(_FakeSource(fail=True))
    report = evaluate(
        [_target()],
        [],
        client_factory=factory,
        report_bucket=BUCKET,
        report_region=PRIMARY,
        now=datetime.now(UTC),
    )
    assert {r.status for r in report.rows} == {"red"}
    assert report.rows[0].reason == "could not check: PermissionError: AccessDenied in ap-northeast-1"
    assert report.problems


def test_an_unknown_kind_names_where_to_add_a_source():
    with pytest.raises(KeyError, match="no freshness source handles resource kind 'dynamodb_tabel'"):
        registry.source_for("dynamodb_tabel")


def test_a_selector_that_matches_nothing_is_a_red_row_not_a_missing_one(world, factory):
    world.all_fresh_but_production_dr()
    world.rds.remove_tags_from_resource(
        ResourceName=world.rds.describe_db_clusters(DBClusterIdentifier=ANALYTICS)["DBClusters"][0][
            "DBClusterArn"
        ],
        TagKeys=["backstop-tier"],
    )
    report = write_freshness_report(parse_policy(shipped_policy()), factory)
    (row,) = [r for r in report.rows if r.policy == "triflow-aurora-weekly"]
    assert (row.resource_id, row.region, row.status) == ("tags backstop-tier=weekly", PRIMARY, "red")
    assert row.reason == (
        "no aurora_cluster in ap-northeast-2 carries tags backstop-tier=weekly: this entry of policy "
        "triflow-aurora-weekly protects nothing"
    )
