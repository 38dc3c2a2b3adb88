"""The one check a finished snapshot or copy must pass, on the worker and in the trigger (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backstop.aws.rds_snapshots import SnapshotInfo
from backstop.snapshots.verify import snapshot_problems

BUNKER = "210987654321"
KEY = f"arn:aws:kms:ap-northeast-2:{BUNKER}:key/1111"
SOURCE_ARN = "arn:aws:rds:ap-northeast-2:123456789012:snapshot:db-weekly-20261122"
GOOD = SnapshotInfo(
    db_type="instance",
    snapshot_id="db-weekly-20261122",
    source_id="db",
    arn=f"arn:aws:rds:ap-northeast-2:{BUNKER}:snapshot:db-weekly-20261122",
    status="available",
    region="ap-northeast-2",
    tags={"backstop:managed": "true", "backstop:source-arn": SOURCE_ARN},
    created_at=None,
    encrypted=True,
    kms_key_id=KEY,
    engine="postgres",
    snapshot_type="manual",
    progress_percent=100,
)
EXPECTED = {
    "source_id": "db",
    "source_encrypted": True,
    "source_arn": SOURCE_ARN,
    "account": BUNKER,
    "region": "ap-northeast-2",
    "kms_key_id": "alias/backstop-bunker",
    "kms_key_arn": KEY,
}


def test_a_snapshot_that_shows_everything_expected_has_no_problem():
    assert snapshot_problems(GOOD, EXPECTED) == []


@pytest.mark.parametrize(
    ("change", "expected_change", "problem"),
    [
        ({"status": "creating"}, {}, "status is 'creating'"),
        ({"tags": {"backstop:source-arn": SOURCE_ARN}}, {}, "backstop:managed tag is missing"),
        ({"source_id": "other"}, {}, "its source is 'other'"),
        ({"encrypted": False}, {}, "encrypted=False but the source has encrypted=True"),
        ({"tags": {"backstop:managed": "true"}}, {}, "backstop:source-arn is None"),
        ({"arn": GOOD.arn.replace(BUNKER, "123456789012")}, {}, f"is not in account {BUNKER}"),
        ({"region": "ap-northeast-1"}, {}, "it is in ap-northeast-1"),
        ({"kms_key_id": KEY.replace("1111", "2222")}, {}, "not with this policy's key"),
        ({}, {"kms_key_arn": KEY.replace(BUNKER, "123456789012")}, "the requested key"),
    ],
)
def test_each_shortfall_is_named(change, expected_change, problem):
    problems = snapshot_problems(replace(GOOD, **change), {**EXPECTED, **expected_change})
    assert any(problem in p for p in problems), problems


def test_unknown_source_encryption_is_not_held_against_the_snapshot():
    assert snapshot_problems(replace(GOOD, encrypted=False), {"source_encrypted": None}) == []
