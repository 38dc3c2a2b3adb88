"""Freshness of ElastiCache snapshots (and their DR exports) and of S3 dated backup copies.

ElastiCache (`elasticache:`): in the policy's region, the newest available manual snapshot
tagged backstop:managed=true and this policy, of this replication group or cluster (its time:
the earliest node's SnapshotCreateTime, else the backstop:created-at tag); where the policy
exports, a DR row in `export.dr_region`: the newest `<id>-<tier>-<date>-0001.rdb` in
`export.dr_bucket` (its LastModified). Against the tier's `max_age`.

S3 (`s3:` buckets with `backup_copy`): the newest dated manifest
`<prefix>/manifests/<YYYYMMDD>.json` in the backup bucket (a manifest is written only after the
copy was verified), against the `s3.schedule`'s `max_age`.
"""

from __future__ import annotations

import re
from typing import Any

from backstop.freshness.registry import Environment, Found, Target, register
from backstop.freshness.status import Facts

CACHE_KINDS = ("elasticache_replication_group", "elasticache_cache_cluster")
S3_KIND = "s3_backup_copy"


class DataStoreSource:
    kinds = (*CACHE_KINDS, S3_KIND)

    def __repr__(self) -> str:
        return "DataStoreSource"

    def targets(self, policy: Any) -> list[Target]:
        out = []
        for item in getattr(policy, "elasticache", []):
            max_age = policy.schedules[item.tier].max_age.total_seconds()
            region = item.region or policy.defaults.region
            export = item.export
            regions = (region, export.dr_region) if export is not None and export.dr_region else (region,)
            for resource in item.resources:
                out.append(
                    Target(
                        policy=item.name,
                        kind=f"elasticache_{resource.type}",
                        resource=resource.id,
                        regions=regions,
                        max_age_s=max_age,
                        overdue_after_s=None,
                        rpo_s=None,
                        channel=item.slack_channel or policy.defaults.slack.channel,
                        spec={"tier": item.tier, "dr_bucket": export.dr_bucket if export else None},
                    )
                )
        s3 = getattr(policy, "s3", None)
        if s3 is not None:
            max_age = policy.schedules[s3.schedule].max_age.total_seconds()
            for bucket in s3.buckets:
                if bucket.backup_copy is None:
                    continue
                out.append(
                    Target(
                        policy="s3",
                        kind=S3_KIND,
                        resource=bucket.name,
                        regions=(bucket.region or policy.defaults.region,),
                        max_age_s=max_age,
                        overdue_after_s=None,
                        rpo_s=None,
                        channel=s3.slack_channel or policy.defaults.slack.channel,
                        spec={
                            "backup_bucket": bucket.backup_copy.bucket,
                            "prefix": bucket.backup_copy.prefix,
                        },
                    )
                )
        return out

    def collect(self, targets: list[Target], env: Environment) -> list[Found]:
        found: list[Found] = []
        for target in targets:
            if target.kind == S3_KIND:
                found.append(self._backup_copy(target, env))
            else:
                found += self._cache(target, env)
        return found

    @staticmethod
    def _cache(target: Target, env: Environment) -> list[Found]:
        from backstop.aws import elasticache as ec
        from backstop.naming import POLICY_TAG, is_managed

        region = target.regions[0]
        mine = [
            s
            for s in ec.list_snapshots(env.client("elasticache", region), {target.resource})
            if s.source == "manual"
            and s.status == "available"
            and is_managed(s.tags)
            and s.tags.get(POLICY_TAG) == target.policy
            and s.created_at is not None
        ]
        best = max(mine, key=lambda s: (s.created_at, s.name), default=None)
        source = Facts(
            role="source",
            region=region,
            newest_backup_id=best.name if best else None,
            newest_backup_at=best.created_at if best else None,
            max_age_s=target.max_age_s,
            last_drill=env.last_drill(target.resource, region),
        )
        rows = [Found(target, target.resource, source)]
        for dr_region in target.regions[1:]:
            pattern = re.compile(re.escape(f"{target.resource}-{target.spec['tier']}-") + r"\d{8}-0001\.rdb$")
            listed = env.client("s3", dr_region).list_objects_v2(
                Bucket=target.spec["dr_bucket"], Prefix=f"{target.resource}-"
            )
            files = [o for o in listed.get("Contents", []) if pattern.match(o["Key"])]
            newest = max(files, key=lambda o: (o["LastModified"], o["Key"]), default=None)
            rows.append(
                Found(
                    target,
                    target.resource,
                    Facts(
                        role="dr",
                        region=dr_region,
                        newest_backup_id=newest["Key"] if newest else None,
                        newest_backup_at=newest["LastModified"] if newest else None,
                        max_age_s=target.max_age_s,
                        source_backup_id=source.newest_backup_id,
                        source_backup_at=source.newest_backup_at,
                    ),
                )
            )
        return rows

    @staticmethod
    def _backup_copy(target: Target, env: Environment) -> Found:
        folder = f"{target.spec['prefix'].strip('/')}/manifests/"
        listed = env.client("s3", target.regions[0]).list_objects_v2(
            Bucket=target.spec["backup_bucket"], Prefix=folder
        )
        manifests = [
            o
            for o in listed.get("Contents", [])
            if re.fullmatch(re.escape(folder) + r"\d{8}\.json", o["Key"])
        ]
        newest = max(manifests, key=lambda o: (o["LastModified"], o["Key"]), default=None)
        return Found(
            target,
            target.resource,
            Facts(
                role="source",
                region=target.regions[0],
                newest_backup_id=newest["Key"] if newest else None,
                newest_backup_at=newest["LastModified"] if newest else None,
                max_age_s=target.max_age_s,
            ),
        )


register(DataStoreSource())
