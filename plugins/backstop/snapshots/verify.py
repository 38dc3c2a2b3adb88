"""What must hold for a finished snapshot or copy: one pure check, used by the task and its trigger.

The task works out what it expects (`expected`: the source, whether the source is encrypted,
for a copy the source ARN, region and the policy key's ARN) before it defers; the trigger then
checks the snapshot it watched against the same expectations and, when nothing is wrong, ends
the task itself, so it never goes back to a worker. Anything wrong goes back to the worker,
which describes again and fails with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from backstop.aws.kms import same_key
from backstop.aws.rds_snapshots import SnapshotInfo
from backstop.naming import SOURCE_ARN_TAG, is_managed


def snapshot_problems(info: SnapshotInfo, expected: Mapping[str, Any]) -> list[str]:
    """Each way `info` falls short of `expected` (JSON: a trigger carries it), in plain words."""
    problems = []
    if not info.available:
        problems.append(f"status is {info.status!r}, expected 'available'")
    if not is_managed(info.tags):
        problems.append("the backstop:managed tag is missing")
    if "source_id" in expected and info.source_id != expected["source_id"]:
        problems.append(f"its source is {info.source_id!r}, expected {expected['source_id']!r}")
    source_encrypted = expected.get("source_encrypted")
    if source_encrypted is not None and source_encrypted != info.encrypted:
        problems.append(f"encrypted={info.encrypted} but the source has encrypted={source_encrypted}")
    if "source_arn" in expected and info.tags.get(SOURCE_ARN_TAG) != expected["source_arn"]:
        problems.append(
            f"backstop:source-arn is {info.tags.get(SOURCE_ARN_TAG)!r}, expected {expected['source_arn']!r}"
        )
    if "account" in expected and f":{expected['account']}:" not in info.arn:
        problems.append(f"its ARN {info.arn} is not in account {expected['account']}")
    if "region" in expected and info.region != expected["region"]:
        problems.append(f"it is in {info.region}, expected {expected['region']}")
    if "kms_key_arn" in expected:
        if "account" in expected and f":{expected['account']}:" not in expected["kms_key_arn"]:
            problems.append(
                f"the requested key {expected['kms_key_id']} ({expected['kms_key_arn']}) is not in "
                f"account {expected['account']}"
            )
        if not info.encrypted:
            problems.append(f"it is not encrypted although KMS key {expected['kms_key_id']} was requested")
        elif not same_key(info.kms_key_id, expected["kms_key_arn"]):
            problems.append(
                f"it is encrypted with KMS key {info.kms_key_id}, not with this policy's key "
                f"{expected['kms_key_id']} ({expected['kms_key_arn']})"
            )
    return problems


def verified_result(info: SnapshotInfo, *, adopted: bool, started: datetime) -> dict[str, Any]:
    """The task's XCom for a verified snapshot: its facts, whether it was adopted, how long it took."""
    result = info.to_xcom()
    result["adopted"] = adopted
    result["duration_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 3)
    return result
