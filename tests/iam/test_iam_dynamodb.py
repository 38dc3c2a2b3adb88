"""The IAM statements for DynamoDB, evaluated request by request (tests/iam/evaluator.py).

DynamoDB backups carry no tags, so IAM cannot tell Backstop's backups from others of a
protected table: DeleteBackup is scoped to the protected tables' backups and the ledger is the
guard in code (tests/dynamodb/test_dynamodb_retention.py). Drill tables are scoped by name
(`-bsdrill-`) and, for DeleteTable, by the tags the drill sets right after the restore.
"""

from __future__ import annotations

import pytest

from backstop.naming import dynamodb_backup_name, dynamodb_drill_table
from tests.iam.calls import ACCOUNT, RUN_DATE, load_policy, tags_context
from tests.iam.evaluator import Request, evaluate

POLICY = load_policy()
TABLE = "triflow-workflow-state"
SOURCE = f"arn:aws:dynamodb:ap-northeast-2:{ACCOUNT}:table/{TABLE}"
OTHER = f"arn:aws:dynamodb:ap-northeast-2:{ACCOUNT}:table/payments"
BACKUP = f"{SOURCE}/backup/01795328523227-b064c212"
DRILL = f"arn:aws:dynamodb:ap-northeast-2:{ACCOUNT}:table/{dynamodb_drill_table(TABLE, 'pitr', RUN_DATE)}"
DR_DRILL = (
    f"arn:aws:dynamodb:ap-northeast-1:{ACCOUNT}:table/{dynamodb_drill_table(TABLE, 'dr_export', RUN_DATE)}"
)
DRILL_TAGS = {
    "backstop:managed": "true",
    "backstop:drill": "true",
    "backstop:expires-at": "2026-11-22T05:00:00Z",
}
LEDGER = f"arn:aws:s3:::triflow-backstop-reports/ledger/dynamodb/ap-northeast-2/{TABLE}/" + (
    dynamodb_backup_name(TABLE, "daily", RUN_DATE) + ".json"
)

ALLOWED = {
    "enable PITR": Request("dynamodb:UpdateContinuousBackups", SOURCE),
    "create backup": Request("dynamodb:CreateBackup", SOURCE),
    "list backups": Request("dynamodb:ListBackups", "*"),
    "delete a protected table's backup": Request("dynamodb:DeleteBackup", BACKUP),
    "export": Request("dynamodb:ExportTableToPointInTime", SOURCE),
    "export writes the DR bucket": Request(
        "s3:PutObject",
        f"arn:aws:s3:::triflow-backstop-dynamodb-dr/dynamodb/{TABLE}/20261122/AWSDynamoDB/x/data/y.json.gz",
    ),
    "write the ledger": Request("s3:PutObject", LEDGER),
    "PITR restore (source)": Request("dynamodb:RestoreTableToPointInTime", SOURCE),
    "PITR restore (target)": Request("dynamodb:RestoreTableToPointInTime", DRILL),
    "restore from backup": Request("dynamodb:RestoreTableFromBackup", BACKUP),
    "import in the DR region": Request("dynamodb:ImportTable", DR_DRILL),
    "probe": Request("dynamodb:GetItem", DRILL),
    "tag the drill table": Request("dynamodb:TagResource", DRILL, tags_context(request=DRILL_TAGS)),
    "delete the drill table": Request("dynamodb:DeleteTable", DRILL, tags_context(resource=DRILL_TAGS)),
}

DENIED = {
    "delete the source table": Request("dynamodb:DeleteTable", SOURCE, tags_context(resource=DRILL_TAGS)),
    "delete an untagged drill-named table": Request("dynamodb:DeleteTable", DRILL),
    "claim the source with backstop tags": Request(
        "dynamodb:TagResource",
        SOURCE,
        tags_context(request={"backstop:managed": "true", "backstop:drill": "true"}),
    ),
    "tag a drill table with other keys": Request(
        "dynamodb:TagResource", DRILL, tags_context(request={"owner": "x"})
    ),
    "remove backstop tags": Request("dynamodb:UntagResource", DRILL, {"aws:TagKeys": ["backstop:drill"]}),
    "delete another table's backup": Request("dynamodb:DeleteBackup", f"{OTHER}/backup/0179-abc"),
    "back up an unprotected table": Request("dynamodb:CreateBackup", OTHER),
    "write items into the source": Request("dynamodb:PutItem", SOURCE),
    "write outside the ledger": Request(
        "s3:PutObject", "arn:aws:s3:::triflow-backstop-reports/ledger/other/x.json"
    ),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_dynamodb_call_is_allowed(name):
    result = evaluate(POLICY, ALLOWED[name])
    assert result.allowed, result


@pytest.mark.parametrize("name", sorted(DENIED))
def test_dynamodb_escalation_is_denied(name):
    result = evaluate(POLICY, DENIED[name])
    assert not result.allowed, result
