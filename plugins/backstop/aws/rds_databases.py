"""The databases Backstop backs up (RDS instances and Aurora clusters), as snapshot sources.

Functions take a boto3 RDS client made by the provider's RdsHook.
"""

from __future__ import annotations

from typing import Any

from backstop.naming import from_tag_list


def tagged_databases(client: Any, db_type: str, wanted: dict[str, str]) -> list[str]:
    """Identifiers of the instances (db_type "instance") or clusters carrying every tag in `wanted`.

    Members of an Aurora cluster are left out of "instance": RDS refuses an instance snapshot of
    one (the cluster's snapshot is the backup), so a tag that an instance shares with its cluster
    selects the cluster only, under an `rds_cluster` selector.
    """
    if db_type == "instance":
        pages = client.get_paginator("describe_db_instances").paginate()
        items = [
            (i["DBInstanceIdentifier"], i.get("TagList"))
            for p in pages
            for i in p["DBInstances"]
            if not i.get("DBClusterIdentifier")
        ]
    else:
        pages = client.get_paginator("describe_db_clusters").paginate()
        items = [(c["DBClusterIdentifier"], c.get("TagList")) for p in pages for c in p["DBClusters"]]
    found = []
    for identifier, tags in items:
        tag_map = from_tag_list(tags)
        if all(tag_map.get(k) == v for k, v in wanted.items()):
            found.append(identifier)
    return sorted(found)


def storage_encrypted(client: Any, db_type: str, identifier: str) -> bool:
    """Whether the instance or cluster stores its data encrypted (raises if it does not exist)."""
    if db_type == "instance":
        item = client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    else:
        item = client.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    return bool(item.get("StorageEncrypted"))
