"""Freshness of the copies in the backup account (`bunker:`): one row per opted-in database and bunker region.

The newest available managed copy in the bunker account of this database under this policy (its
time: when the data was taken, OriginalSnapshotCreateTime, kept across copies), against the
tier's `max_age`. Read through the bunker's copy connection (`bunker.aws_conn_id`), which can
describe but not delete; a database selected by tags is resolved in the source account. A
missing copy is a red "dr" row, like a missing DR copy. The row's region reads
`bunker/<region>`: the source account's own row for the same database and region stays apart.
"""

from __future__ import annotations

from typing import Any

from backstop.freshness.registry import Environment, Found, Target, register
from backstop.freshness.status import Facts

KIND = "rds_bunker_copy"
LABEL = "bunker/"  # the rows' region: bunker/ap-northeast-2


class BunkerCopySource:
    kinds = (KIND,)

    def __repr__(self) -> str:
        return "BunkerCopySource"

    def targets(self, policy: Any) -> list[Target]:
        bunker = getattr(policy, "bunker", None)
        if bunker is None:
            return []
        by_name = {p.name: p for p in policy.rds_snapshots}
        bunker_regions = [r.region for r in bunker.regions]
        out = []
        for wanted in bunker.databases:
            item = by_name.get(wanted.policy)
            if item is None:
                continue
            held = {policy.region_of(item), *(d.region for d in item.dr_regions)}
            regions = [r for r in bunker_regions if r in held]
            for resource in item.resources:
                if wanted.type not in (None, resource.type) or (
                    wanted.id is not None and resource.id not in (wanted.id, None)
                ):
                    continue
                out.append(
                    Target(
                        policy=item.name,
                        kind=KIND,
                        resource=wanted.id
                        or resource.id
                        or "tags " + ",".join(f"{k}={v}" for k, v in sorted(resource.selector.tags.items())),
                        regions=tuple(LABEL + r for r in regions),
                        max_age_s=policy.schedules[item.tier].max_age.total_seconds(),
                        overdue_after_s=None,
                        rpo_s=None,
                        channel=item.slack_channel or policy.defaults.slack.channel,
                        spec={
                            "db_type": "instance" if resource.type == "rds_instance" else "cluster",
                            "id": wanted.id or resource.id,
                            "selector": dict(resource.selector.tags) if resource.selector else None,
                            "source_region": policy.region_of(item),
                            "conn_id": bunker.aws_conn_id,
                            "bunker_regions": regions,
                        },
                    )
                )
        return out

    def collect(self, targets: list[Target], env: Environment) -> list[Found]:
        from backstop.aws.hooks import RDS_HOOK, make_hook
        from backstop.aws.rds_databases import tagged_databases
        from backstop.aws.rds_snapshots import list_snapshots
        from backstop.naming import POLICY_TAG, is_managed

        listed: dict[tuple[str, str, str], list[Any]] = {}

        def copies(conn_id: str, region: str, db_type: str) -> list[Any]:
            if (conn_id, region, db_type) not in listed:
                client = make_hook(RDS_HOOK, aws_conn_id=conn_id, region_name=region).conn
                listed[conn_id, region, db_type] = [
                    s
                    for s in list_snapshots(client, db_type, snapshot_type="manual")
                    if is_managed(s.tags) and s.available
                ]
            return listed[conn_id, region, db_type]

        found = []
        for target in targets:
            spec = target.spec
            if spec.get("id"):
                identifiers = [spec["id"]]
            else:
                identifiers = tagged_databases(
                    env.client("rds", spec["source_region"]), spec["db_type"], spec["selector"]
                )
            for identifier in identifiers:
                for label, region in zip(target.regions, spec["bunker_regions"], strict=True):
                    mine = [
                        s
                        for s in copies(spec["conn_id"], region, spec["db_type"])
                        if s.source_id == identifier and s.tags.get(POLICY_TAG) == target.policy
                    ]
                    newest = max(
                        mine,
                        key=lambda s: (s.original_created_at or s.created_at, s.snapshot_id),
                        default=None,
                    )
                    facts = Facts(
                        role="dr",
                        region=label,
                        newest_backup_id=newest.snapshot_id if newest else None,
                        newest_backup_at=(newest.original_created_at or newest.created_at)
                        if newest
                        else None,
                        max_age_s=target.max_age_s,
                    )
                    found.append(Found(target=target, resource_id=identifier, facts=facts))
        return found


register(BunkerCopySource())
