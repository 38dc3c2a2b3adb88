"""The IAM statements for the sweeper's DynamoDB / ElastiCache leftovers and the DR export pruning.

Evaluated request by request (tests/iam/evaluator.py). The sweeper lists tables (ListTables has
no resource scope) and deletes only drill-named tables and groups that carry the managed and
drill tags; export pruning deletes objects only under the DR bucket's `dynamodb/` prefix and
can neither delete the ledger that says which exports are Backstop's nor anything else.
"""

from __future__ import annotations

import pytest

from backstop.naming import cache_drill_group_id, dynamodb_drill_table, snapshot_name
from tests.iam.calls import ACCOUNT, RUN_DATE, load_policy, tags_context
from tests.iam.evaluator import Request, evaluate

POLICY = load_policy()
TABLE = "triflow-workflow-state"
DRILL_TAGS = {
    "backstop:managed": "true",
    "backstop:drill": "true",
    "backstop:expires-at": "2026-11-22T05:00:00Z",
}
DRILL_TABLE = (
    f"arn:aws:dynamodb:ap-northeast-1:{ACCOUNT}:table/{dynamodb_drill_table(TABLE, 'dr_export', RUN_DATE)}"
)
DRILL_GROUP = (
    f"arn:aws:elasticache:ap-northeast-2:{ACCOUNT}:replicationgroup:"
    f"{cache_drill_group_id('triflow-ai-redis', RUN_DATE)}"
)
REDIS_SNAPSHOT = snapshot_name("triflow-ai-redis", "daily", RUN_DATE)
DR_DRILL_GROUP = DRILL_GROUP.replace(":ap-northeast-2:", ":ap-northeast-1:")
EXPORT = f"arn:aws:s3:::triflow-backstop-dynamodb-dr/dynamodb/{TABLE}/20261122"
REPORTS = "arn:aws:s3:::triflow-backstop-reports"

ALLOWED = {
    "sweeper lists tables": Request("dynamodb:ListTables", "*"),
    "sweeper reads a drill table's tags": Request("dynamodb:ListTagsOfResource", DRILL_TABLE),
    "sweeper deletes a tagged drill table": Request(
        "dynamodb:DeleteTable", DRILL_TABLE, tags_context(resource=DRILL_TAGS)
    ),
    "sweeper lists replication groups": Request("elasticache:DescribeReplicationGroups", DRILL_GROUP, {}),
    "sweeper deletes a tagged drill group": Request(
        "elasticache:DeleteReplicationGroup", DRILL_GROUP, tags_context(resource=DRILL_TAGS)
    ),
    "prune deletes an export's data file": Request(
        "s3:DeleteObject", f"{EXPORT}/AWSDynamoDB/01abc/data/x.json.gz"
    ),
    "prune deletes an export's marker": Request("s3:DeleteObject", f"{EXPORT}/_backstop-export.json"),
    "prune reads the export ledger": Request(
        "s3:GetObject", f"{REPORTS}/ledger/dynamodb/exports/ap-northeast-1/{TABLE}/20261122.json"
    ),
    "prune marks an export record deleted": Request(
        "s3:PutObject", f"{REPORTS}/ledger/dynamodb/exports/ap-northeast-1/{TABLE}/20261122.json"
    ),
    "prune writes its plan": Request("s3:PutObject", f"{REPORTS}/reports/retention-dynamodb-exports/x.json"),
    "prune deletes a Redis export file": Request(
        "s3:DeleteObject", f"arn:aws:s3:::triflow-ai-redis-exports/{REDIS_SNAPSHOT}-0001.rdb"
    ),
    "prune deletes a Redis export's DR copy": Request(
        "s3:DeleteObject", f"arn:aws:s3:::triflow-ai-redis-exports-dr/{REDIS_SNAPSHOT}-0002.rdb"
    ),
    "the DR-export drill seeds a group in the DR region": Request(
        "elasticache:CreateReplicationGroup", DR_DRILL_GROUP, tags_context(request=DRILL_TAGS)
    ),
    "the DR-export drill checks the exported files": Request(
        "s3:GetObject", f"arn:aws:s3:::triflow-ai-redis-exports-dr/{REDIS_SNAPSHOT}-0001.rdb"
    ),
    "the DR-export drill deletes its group": Request(
        "elasticache:DeleteReplicationGroup", DR_DRILL_GROUP, tags_context(resource=DRILL_TAGS)
    ),
    "the Redis export ledger is written": Request(
        "s3:PutObject", f"{REPORTS}/ledger/elasticache/exports/ap-northeast-2/{REDIS_SNAPSHOT}.json"
    ),
}

DENIED = {
    "delete an untagged drill-named table": Request("dynamodb:DeleteTable", DRILL_TABLE),
    "delete a drill group without the managed tag": Request(
        "elasticache:DeleteReplicationGroup", DRILL_GROUP, tags_context(resource={"backstop:drill": "true"})
    ),
    "delete the ledger that names the exports": Request(
        "s3:DeleteObject", f"{REPORTS}/ledger/dynamodb/exports/ap-northeast-1/{TABLE}/20261122.json"
    ),
    "delete outside the export prefix": Request(
        "s3:DeleteObject", "arn:aws:s3:::triflow-backstop-dynamodb-dr/x"
    ),
    "delete a protected bucket's object": Request("s3:DeleteObject", "arn:aws:s3:::triflow-ai-files/a.txt"),
    "delete a Redis export file": Request(
        "s3:DeleteObject", "arn:aws:s3:::triflow-ai-redis-exports-dr/x.rdb"
    ),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_sweep_and_export_prune_call_is_allowed(name):
    result = evaluate(POLICY, ALLOWED[name])
    assert result.allowed, result


@pytest.mark.parametrize("name", sorted(DENIED))
def test_sweep_and_export_prune_escalation_is_denied(name):
    result = evaluate(POLICY, DENIED[name])
    assert not result.allowed, result
