"""What the local stack adds to moto 5.2.5 (emulation, local only): ElastiCache CopySnapshot.

moto implements ElastiCache replication groups, snapshots and tags, but not CopySnapshot (it
answers 500). Backstop exports snapshots to S3 with `CopySnapshot(TargetBucket=...)`, the call
it makes on AWS, so the local moto server is started through this module, which adds that one
action to moto's ElastiCache handler before serving:

- with `TargetBucket`: writes `<TargetSnapshotName>-<shard>.rdb` per node group into the moto S3
  bucket (as ElastiCache does; the bytes are a placeholder RDB header plus the snapshot name,
  since the emulator holds no data) and answers with the source snapshot's description;
- without: a same-region copy named `TargetSnapshotName`, with the request's tags.

Nothing in plugins/backstop knows about this module: the library's calls are the AWS calls.
Run as `python -m include.local.moto_emulation -H host -p port` (moto_server's arguments).
"""

from __future__ import annotations

import copy
import sys
from typing import Any


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.elasticache.exceptions import SnapshotAlreadyExists, SnapshotNotFound
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    def copy_snapshot(
        self: ElastiCacheBackend,
        source_snapshot_name: str,
        target_snapshot_name: str,
        target_bucket: str | None,
        tags: list[dict[str, str]],
    ) -> Any:
        source = self.snapshots.get(source_snapshot_name)
        if source is None:
            raise SnapshotNotFound(source_snapshot_name)
        if target_bucket:
            from moto.s3.models import s3_backends

            s3 = s3_backends[self.account_id][self.partition]
            s3.get_bucket(target_bucket)  # NoSuchBucket as on AWS
            for shard in range(1, (source.num_node_groups or 1) + 1):
                body = (
                    b"REDIS0011"
                    + f" backstop-local-emulation {source_snapshot_name} shard {shard}\n".encode()
                )
                s3.put_object(target_bucket, f"{target_snapshot_name}-{shard:04d}.rdb", body)
            return source
        if target_snapshot_name in self.snapshots:
            raise SnapshotAlreadyExists(target_snapshot_name)
        target = copy.copy(source)
        target.snapshot_name = target_snapshot_name
        target.arn = source.arn.rsplit(":", 1)[0] + ":" + target_snapshot_name
        target.tags = tags
        if tags:
            self.tagging_service.tag_resource(target.arn, tags)
        self.snapshots[target_snapshot_name] = target
        return target

    def copy_snapshot_action(self: ElastiCacheResponse) -> ActionResult:
        snapshot = self.elasticache_backend.copy_snapshot(
            source_snapshot_name=self._get_param("SourceSnapshotName"),
            target_snapshot_name=self._get_param("TargetSnapshotName"),
            target_bucket=self._get_param("TargetBucket"),
            tags=self._get_param("Tags", []),
        )
        return ActionResult({"Snapshot": snapshot})

    ElastiCacheBackend.copy_snapshot = copy_snapshot  # type: ignore[attr-defined]
    ElastiCacheResponse.copy_snapshot = copy_snapshot_action  # type: ignore[attr-defined]

    from include.local import moto_bunker  # RDS: copying a snapshot another account shared

    moto_bunker.install()


def main(argv: list[str] | None = None) -> None:
    install()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
