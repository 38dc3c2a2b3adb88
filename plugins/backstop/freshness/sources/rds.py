"""Freshness of RDS instances and Aurora clusters: their managed manual snapshots per region.

Targets come from `rds_snapshots:` (each resource, in its policy's region and DR regions; tag
selectors are resolved at run time as the snapshot DAG resolves them). A row's backup is the
newest available snapshot tagged backstop:managed=true and this policy, of this database, in
that region; its age is when the data was taken (`OriginalSnapshotCreateTime`, which RDS keeps
across copies, else the source snapshot of the same name, else the snapshot's own time).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from backstop.freshness.registry import Environment, Found, Target, register
from backstop.freshness.status import Facts
from backstop.naming import POLICY_TAG, RESTORE_VERIFIED_TAG, is_managed

KINDS = {"rds_instance": "instance", "aurora_cluster": "cluster"}


class RdsSnapshotSource:
    kinds = tuple(KINDS)

    def __repr__(self) -> str:
        return "RdsSnapshotSource"

    def targets(self, policy: Any) -> list[Target]:
        out = []
        for item in policy.rds_snapshots:
            schedule = policy.schedules[item.tier]
            regions = (policy.region_of(item), *(dr.region for dr in item.dr_regions))
            for resource in item.resources:
                selector = resource.selector.tags if resource.selector else None
                shown = resource.id or "tags " + ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
                out.append(
                    Target(
                        policy=item.name,
                        kind=resource.type,
                        resource=shown,
                        regions=regions,
                        max_age_s=schedule.max_age.total_seconds(),
                        overdue_after_s=None,  # from the cron at run time (see collect)
                        rpo_s=item.objectives.rpo.total_seconds() if item.objectives else None,
                        channel=policy.channel_of(item),
                        spec={
                            "db_type": KINDS[resource.type],
                            "id": resource.id,
                            "selector": selector,
                            "cron": schedule.cron,
                        },
                    )
                )
        return out

    def collect(self, targets: list[Target], env: Environment) -> list[Found]:
        from backstop.aws.rds_databases import tagged_databases
        from backstop.aws.rds_snapshots import list_snapshots

        listed: dict[tuple[str, str], list[Any]] = {}

        def snapshots(region: str, db_type: str) -> list[Any]:
            if (region, db_type) not in listed:
                listed[region, db_type] = [
                    s
                    for s in list_snapshots(env.client("rds", region), db_type, snapshot_type="manual")
                    if is_managed(s.tags) and s.available
                ]
            return listed[region, db_type]

        from backstop.policy.fields import longest_gap

        gaps: dict[str, float] = {}
        found: list[Found] = []
        for target in targets:
            cron = target.spec.get("cron")
            if target.overdue_after_s is None and cron:
                if cron not in gaps:
                    gaps[cron] = longest_gap(cron).total_seconds()
                if gaps[cron] < target.max_age_s:  # a newer backup was due, but it is not stale yet
                    target = replace(target, overdue_after_s=gaps[cron])
            db_type = target.spec["db_type"]
            source_region = target.regions[0]
            if target.spec.get("id"):
                identifiers = [target.spec["id"]]
            else:
                identifiers = tagged_databases(
                    env.client("rds", source_region), db_type, target.spec["selector"]
                )
                if not identifiers:  # red, not absent: a cluster that lost its tag must not vanish quietly
                    why = (
                        f"no {target.kind} in {source_region} carries {target.resource}: this entry of "
                        f"policy {target.policy} protects nothing"
                    )
                    env.problem(why)
                    found.append(
                        Found(
                            target=target,
                            resource_id=target.resource,
                            facts=Facts(
                                role="source",
                                region=source_region,
                                newest_backup_id=None,
                                newest_backup_at=None,
                                max_age_s=target.max_age_s,
                            ),
                            unchecked=why,
                        )
                    )
            for identifier in identifiers:
                found += self._rows(target, identifier, snapshots, env)
        return found

    @staticmethod
    def _rows(target: Target, identifier: str, snapshots: Any, env: Environment) -> list[Found]:
        db_type = target.spec["db_type"]

        def mine(region: str) -> list[Any]:
            return [
                s
                for s in snapshots(region, db_type)
                if s.source_id == identifier and s.tags.get(POLICY_TAG) == target.policy
            ]

        at_source = {s.snapshot_id: s for s in mine(target.regions[0])}

        def taken_at(s: Any) -> datetime | None:
            times = [t for t in (s.original_created_at, s.created_at) if t is not None]
            original = at_source.get(s.snapshot_id)
            if original is not None and original.created_at is not None:
                times.append(original.created_at)
            return min(times, default=None)

        def newest(items: list[Any]) -> Any:
            dated = [s for s in items if taken_at(s) is not None]
            return max(dated, key=lambda s: (taken_at(s), s.snapshot_id), default=None)

        source_newest = newest(list(at_source.values()))
        rows = []
        for region in target.regions:
            role = target.role_of(region)
            items = mine(region)
            best = newest(items)
            verified = newest([s for s in items if s.tags.get(RESTORE_VERIFIED_TAG) == "true"])
            facts = Facts(
                role=role,
                region=region,
                newest_backup_id=best.snapshot_id if best else None,
                newest_backup_at=taken_at(best) if best else None,
                max_age_s=target.max_age_s,
                overdue_after_s=target.overdue_after_s,
                rpo_s=target.rpo_s,
                source_backup_id=source_newest.snapshot_id if source_newest and role == "dr" else None,
                source_backup_at=taken_at(source_newest) if source_newest and role == "dr" else None,
                last_drill=env.last_drill(identifier, region),
            )
            rows.append(
                Found(
                    target=target,
                    resource_id=identifier,
                    facts=facts,
                    newest_verified_backup_id=verified.snapshot_id if verified else None,
                )
            )
        return rows


register(RdsSnapshotSource())
