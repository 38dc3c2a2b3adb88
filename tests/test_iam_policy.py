"""The shipped IAM policy covers every AWS call the library makes, and scopes creation by tag."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = json.loads((ROOT / "include" / "iam" / "backstop-policy.json").read_text())


def _allowed_actions() -> set[str]:
    actions: set[str] = set()
    for statement in POLICY["Statement"]:
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def _rds_calls_in_library() -> set[str]:
    """Every RDS operation (as its API name) named in plugins/backstop (method calls and SnapshotApi names)."""
    from botocore import xform_name
    from botocore.session import get_session

    model = get_session().get_service_model("rds")
    operations = {xform_name(op): op for op in model.operation_names}
    found = set()
    for path in (ROOT / "plugins" / "backstop").rglob("*.py"):
        text = path.read_text()
        for name in re.findall(r"\b([a-z]+(?:_[a-z]+)+)\b", text):
            if name in operations:
                found.add(operations[name])
    return found


def test_every_rds_call_is_allowed():
    calls = _rds_calls_in_library()
    assert {"CreateDBSnapshot", "CreateDBClusterSnapshot", "DescribeDBSnapshots"} <= calls
    allowed = _allowed_actions()
    missing = sorted(f"rds:{c}" for c in calls if f"rds:{c}" not in allowed)
    assert missing == [], f"include/iam/backstop-policy.json lacks {missing}"


def test_snapshot_creation_requires_the_managed_tag():
    (statement,) = [s for s in POLICY["Statement"] if s["Sid"] == "CreateOnlyManagedSnapshots"]
    assert statement["Condition"]["StringEquals"]["aws:RequestTag/backstop:managed"] == "true"
    assert "rds:AddTagsToResource" in statement["Action"]


def test_deletion_is_limited_to_managed_snapshots():
    (statement,) = [s for s in POLICY["Statement"] if s["Sid"] == "DeleteOnlyManagedSnapshots"]
    assert statement["Condition"]["StringEquals"]["aws:ResourceTag/backstop:managed"] == "true"
    deleting = [s for s in POLICY["Statement"] if any("Delete" in a for a in s["Action"])]
    for other in deleting:
        condition = other.get("Condition", {}).get("StringEquals", {})
        assert condition.get("aws:ResourceTag/backstop:managed") == "true", other["Sid"]
    assert statement in deleting
