"""What the drill orphan sweeper looks at, one small adapter per data store.

Each store lists the drill leftovers of one region as `Leftover`s and deletes one; the
sweeper's one loop (backstop.drills.sweeper) decides with `sweep_decision`. A leftover is
`ours` only when Backstop made it as a drill: tagged `backstop:managed=true` AND
`backstop:drill=true`, and for DynamoDB and ElastiCache also named like a drill
(`-bsdrill-` tables, `-drill-YYYYMMDD` groups: the names IAM scopes the deletes to). Every
delete checks the tags again right before the call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from backstop.aws.elasticache import ELASTICACHE_HOOK
from backstop.aws.hooks import GENERIC_HOOK, RDS_HOOK
from backstop.naming import CACHE_DRILL_GROUP, DRILL_TAG, DYNAMODB_DRILL_MARK, is_managed


@dataclass(frozen=True)
class Leftover:
    """One resource a drill may have left behind, as its store listed it."""

    store: str  # "rds" | "dynamodb" | "elasticache"
    ident: str
    region: str
    tags: Mapping[str, str]
    ours: bool  # named and tagged as a Backstop drill made it
    going: bool = False  # already being deleted
    named_like_drill: bool = False  # the drill name without Backstop's tags: reported, never touched
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)


def is_drill_tagged(tags: Mapping[str, str]) -> bool:
    return is_managed(tags) and tags.get(DRILL_TAG) == "true"


class RdsDrillInstances:
    """RDS drill instances: tagged managed and drill (their names vary: drills, rebuild drills)."""

    name = "rds"
    what = "drill instance"
    hook_path = RDS_HOOK
    hook_kwargs: dict[str, Any] = {}

    def leftovers(self, client: Any, region: str) -> Iterator[Leftover]:
        from backstop.aws.rds_instances import instance_tags, list_instances

        for instance in list_instances(client):
            tags = instance_tags(instance, client)
            yield Leftover(
                store=self.name,
                ident=instance["DBInstanceIdentifier"],
                region=region,
                tags=tags,
                ours=is_drill_tagged(tags),
                going=instance.get("DBInstanceStatus") == "deleting",
                raw=instance,
            )

    def delete(self, client: Any, leftover: Leftover, log: Any) -> str:
        from backstop.drills.instances import delete_drill_instance

        delete_drill_instance(client, dict(leftover.raw), log)
        return "deleted"


class DynamoDbDrillTables:
    """DynamoDB drill tables: `<table>-bsdrill-<kind>-<YYYYMMDD>`, tagged right after the restore."""

    name = "dynamodb"
    what = "drill table"
    hook_path = GENERIC_HOOK
    hook_kwargs: dict[str, Any] = {"client_type": "dynamodb"}

    def leftovers(self, client: Any, region: str) -> Iterator[Leftover]:
        from backstop.aws import dynamodb as ddb

        for table in ddb.list_table_names(client):
            if DYNAMODB_DRILL_MARK not in table:
                continue  # not even described: only drill-named tables are candidates
            found = ddb.describe_table(client, table)
            if found is None:
                continue  # deleted between the listing and now
            tags = ddb.list_tags(client, found["TableArn"])
            yield Leftover(
                store=self.name,
                ident=table,
                region=region,
                tags=tags,
                ours=is_drill_tagged(tags),
                going=found.get("TableStatus") == "DELETING",
                named_like_drill=True,
            )

    def delete(self, client: Any, leftover: Leftover, log: Any) -> str:
        from backstop.dynamodb.drill import delete_drill_table

        return delete_drill_table(client, leftover.ident)  # checks name and tags again


class CacheDrillGroups:
    """ElastiCache drill replication groups: `<source>-drill-<YYYYMMDD>`, tagged at creation."""

    name = "elasticache"
    what = "drill group"
    hook_path = ELASTICACHE_HOOK
    hook_kwargs: dict[str, Any] = {}

    def leftovers(self, client: Any, region: str) -> Iterator[Leftover]:
        from backstop.aws import elasticache as ec

        for page in client.get_paginator("describe_replication_groups").paginate():
            for group in page.get("ReplicationGroups", []):
                group_id = group["ReplicationGroupId"]
                if not CACHE_DRILL_GROUP.search(group_id):
                    continue
                tags = ec.tags_of(client, group["ARN"])
                yield Leftover(
                    store=self.name,
                    ident=group_id,
                    region=region,
                    tags=tags,
                    ours=is_drill_tagged(tags),
                    going=group.get("Status") == "deleting",
                    named_like_drill=True,
                    raw=group,
                )

    def delete(self, client: Any, leftover: Leftover, log: Any) -> str:
        from backstop.aws import elasticache as ec

        group = ec.describe_group(client, leftover.ident)
        if group is None:
            return "gone"
        if not is_drill_tagged(ec.tags_of(client, group["ARN"])):
            raise RuntimeError(f"{leftover.ident} lost its backstop drill tags: not deleted")
        return "deleted" if ec.delete_group(client, leftover.ident) else "gone"


STORES = {store.name: store for store in (RdsDrillInstances(), DynamoDbDrillTables(), CacheDrillGroups())}
