"""The orphan sweeper on DynamoDB drill tables and ElastiCache drill groups, against moto over HTTP.

Leftovers are made the way a crashed drill leaves them (a table or group carrying the drill's
name and tags, its expires-at in the past) beside the ones the sweeper must never touch: a
drill-named table or group without backstop:managed=true, and a fresh one inside its grace
period (expires-at in the future).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest

from backstop.drills.sweeper import DrillOrphanSweeperOperator
from include.local.dynamodb_fleet import WORKFLOW_TABLE
from include.local.fleet_datastores import REDIS_GROUP

REGION, DR = "ap-northeast-2", "ap-northeast-1"
PAST = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
FUTURE = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
OURS = {"backstop:managed": "true", "backstop:drill": "true"}

CRASHED_TABLE = f"{WORKFLOW_TABLE}-bsdrill-pitr-20261101"
CRASHED_DR_TABLE = f"{WORKFLOW_TABLE}-bsdrill-dr-export-20261101"
STRANGER_TABLE = "payments-bsdrill-pitr-20261101"  # drill-like name, drill tag, no managed tag
FRESH_TABLE = f"{WORKFLOW_TABLE}-bsdrill-backup-20261206"
CRASHED_GROUP = f"{REDIS_GROUP}-drill-20261101"
STRANGER_GROUP = "someones-redis-drill-20261101"
FRESH_GROUP = f"{REDIS_GROUP}-drill-20261206"


@pytest.fixture
def aws(fleet, local_stack):
    def client(service: str, region: str = REGION):
        return boto3.client(service, region_name=region, endpoint_url=local_stack.aws_endpoint_url)

    return client


def _table(ddb, name: str, tags: dict[str, str]) -> None:
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def _group(ec, group_id: str, tags: dict[str, str]) -> None:
    ec.create_replication_group(
        ReplicationGroupId=group_id,
        ReplicationGroupDescription="drill leftover",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


@pytest.fixture
def leftovers(aws):
    ddb, dr_ddb, ec = aws("dynamodb"), aws("dynamodb", DR), aws("elasticache")
    _table(ddb, CRASHED_TABLE, {**OURS, "backstop:expires-at": PAST})
    _table(dr_ddb, CRASHED_DR_TABLE, {**OURS, "backstop:expires-at": PAST})
    _table(ddb, STRANGER_TABLE, {"backstop:drill": "true", "backstop:expires-at": PAST})
    _table(ddb, FRESH_TABLE, {**OURS, "backstop:expires-at": FUTURE})
    _group(ec, CRASHED_GROUP, {**OURS, "backstop:expires-at": PAST})
    _group(ec, STRANGER_GROUP, {"backstop:drill": "true", "backstop:expires-at": PAST})
    _group(ec, FRESH_GROUP, {**OURS, "backstop:expires-at": FUTURE})
    return aws


def _tables(aws, region: str = REGION) -> set[str]:
    return set(aws("dynamodb", region).list_tables()["TableNames"])


def _live_groups(aws) -> set[str]:
    """Groups not being deleted (moto leaves a deleted group `deleting` for good, as AWS does for minutes)."""
    groups = aws("elasticache").describe_replication_groups()["ReplicationGroups"]
    return {g["ReplicationGroupId"] for g in groups if g["Status"] != "deleting"}


def _sweeper() -> DrillOrphanSweeperOperator:
    return DrillOrphanSweeperOperator(
        task_id="sweep",
        stores={"dynamodb": [REGION, DR], "elasticache": [REGION]},
        channel="#triflow-alerts",
    )


def _context(run_type: str = "scheduled", **params) -> dict:
    return {"dag_run": SimpleNamespace(run_type=run_type), "params": params, "run_id": f"{run_type}__x"}


def test_expired_drill_tables_and_groups_are_deleted_and_nothing_else(leftovers, slack):
    result = _sweeper().execute(_context())

    assert {(d["store"], d["id"], d["region"]) for d in result["deleted"]} == {
        ("dynamodb", CRASHED_TABLE, REGION),
        ("dynamodb", CRASHED_DR_TABLE, DR),
        ("elasticache", CRASHED_GROUP, REGION),
    }
    assert CRASHED_TABLE not in _tables(leftovers) and CRASHED_DR_TABLE not in _tables(leftovers, DR)
    assert {STRANGER_TABLE, FRESH_TABLE, WORKFLOW_TABLE} <= _tables(leftovers)
    assert _live_groups(leftovers) == {REDIS_GROUP, STRANGER_GROUP, FRESH_GROUP}
    assert {r["id"] for r in result["left_alone"]} == {STRANGER_TABLE, STRANGER_GROUP}
    assert {k["id"] for k in result["kept"]} == {FRESH_TABLE, FRESH_GROUP}
    (message,) = slack.messages()
    assert CRASHED_TABLE in message["text"] and CRASHED_GROUP in message["text"]
    assert STRANGER_TABLE not in message["text"] and FRESH_GROUP not in message["text"]


def test_a_second_sweep_finds_nothing_more_to_delete(leftovers, slack):
    _sweeper().execute(_context())
    again = _sweeper().execute(_context())

    assert again["deleted"] == [] and again["errors"] == []
    assert {STRANGER_TABLE, FRESH_TABLE} <= _tables(leftovers)
    assert len(slack.messages()) == 1  # the second run had nothing to tell


def test_a_manual_run_is_a_dry_run_unless_delete_is_typed(leftovers, slack):
    dry = _sweeper().execute(_context("manual"))

    assert dry["dry_run"] is True and dry["deleted"] == []
    assert {d["id"] for d in dry["would_delete"]} == {CRASHED_TABLE, CRASHED_DR_TABLE, CRASHED_GROUP}
    assert CRASHED_TABLE in _tables(leftovers) and CRASHED_GROUP in _live_groups(leftovers)
    assert slack.messages() == []

    real = _sweeper().execute(_context("manual", dry_run=False, confirm_delete="DELETE"))

    assert {d["id"] for d in real["deleted"]} == {CRASHED_TABLE, CRASHED_DR_TABLE, CRASHED_GROUP}


def test_the_table_delete_checks_the_tags_again_before_the_call(leftovers, slack):
    """Tags removed between the listing and the delete (a fault the listing cannot show, so the
    listing is taken first and the table untagged after it): the delete is refused, the task fails."""
    sweeper = _sweeper()
    ddb = leftovers("dynamodb")
    arn = ddb.describe_table(TableName=CRASHED_TABLE)["Table"]["TableArn"]
    store_client = sweeper.store_client("dynamodb", REGION)

    asked: list[str] = []

    def remember(params, **kwargs):
        asked.append(params["ResourceArn"])

    def untag_after_listing(**kwargs):
        if asked[-1] == arn:
            store_client.meta.events.unregister("after-call.dynamodb.ListTagsOfResource", untag_after_listing)
            ddb.untag_resource(ResourceArn=arn, TagKeys=["backstop:managed"])

    store_client.meta.events.register("provide-client-params.dynamodb.ListTagsOfResource", remember)
    store_client.meta.events.register("after-call.dynamodb.ListTagsOfResource", untag_after_listing)

    with pytest.raises(Exception, match=f"{CRASHED_TABLE}.*not tagged backstop:managed=true"):
        sweeper.execute(_context())
    assert CRASHED_TABLE in _tables(leftovers)
    assert CRASHED_DR_TABLE not in _tables(leftovers, DR)  # the others were still swept


def test_the_sweeper_dag_looks_in_every_store_of_the_shipped_policy(
    airflow_db, leftovers, slack, load_dag, policy_for, states
):
    dag = load_dag("drill_orphan_sweeper.py", "drill_orphan_sweeper", policy_for())
    sweep = dag.get_task("sweep")
    assert sweep.stores == {"rds": [DR, REGION], "dynamodb": [DR, REGION], "elasticache": [DR, REGION]}

    dag_run = dag.test(run_conf={"dry_run": False, "confirm_delete": "DELETE"})

    assert dag_run.state == "success", states(dag_run)
    assert CRASHED_TABLE not in _tables(leftovers) and CRASHED_GROUP not in _live_groups(leftovers)
    assert {STRANGER_TABLE, FRESH_TABLE} <= _tables(leftovers)
