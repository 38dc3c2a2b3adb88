"""ElastiCache restore drill: a replication group from the newest managed snapshot, checked, deleted.

Seed (dr-plan-triflow.md): ElastiCache is restored by creating a replication group from a
snapshot. The drill group is `<source>-drill-<YYYYMMDD>`, tagged `backstop:managed=true`,
`backstop:drill=true`, `backstop:expires-at` at creation. A same-named group without those tags
fails the drill and is never touched; the teardown deletes only a group carrying both tags.
RTO = verified - drill start; missing the policy's `rto` fails the drill.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, DeferrableAwsOperator, aws_template_fields
from backstop.aws import elasticache as ec
from backstop.aws.errors import error_code
from backstop.aws.hooks import S3_HOOK, LazyHookClass, make_hook
from backstop.naming import (
    DRILL_TAG,
    EXPIRES_TAG,
    MANAGED_TAG,
    SOURCE_TAG,
    cache_drill_group_id,
    is_managed,
    managed_tags,
    run_date,
)


class UnmanagedGroupError(AirflowFailException):
    """A replication group with the drill's name exists but Backstop's drill did not make it."""


def is_drill_group(tags: dict[str, str]) -> bool:
    """Only groups tagged both managed and drill may be deleted by a drill."""
    return is_managed(tags) and tags.get(DRILL_TAG) == "true"


def newest_managed_snapshot(snapshots: list[ec.CacheSnapshot], source_id: str) -> ec.CacheSnapshot | None:
    usable = [
        s
        for s in snapshots
        if s.source_id == source_id
        and s.source == "manual"
        and s.status == "available"
        and is_managed(s.tags)
    ]
    return max(usable, key=lambda s: (s.created_at or datetime.min.replace(tzinfo=UTC), s.name), default=None)


class _DrillBase(BackstopAwsOperator):
    aws_hook_class = LazyHookClass(ec.ELASTICACHE_HOOK)

    def __init__(self, *, source_id: str, drill_name: str, timezone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_id = source_id
        self.drill_name = drill_name
        self.timezone = timezone

    def group_id(self, context: Context) -> str:
        return cache_drill_group_id(self.source_id, run_date(context, self.timezone))


class CacheDrillRestoreOperator(_DrillBase):
    """Create the drill group from the newest managed available snapshot (or adopt today's drill group)."""

    def __init__(
        self,
        *,
        source_id: str,
        drill_name: str,
        node_type: str,
        policy_name: str,
        max_lifetime_seconds: float = 10800,
        dr_export: dict[str, str] | None = None,
        ledger_bucket: str | None = None,
        ledger_region: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(source_id=source_id, drill_name=drill_name, **kwargs)
        self.node_type = node_type
        self.policy_name = policy_name
        self.max_lifetime_seconds = max_lifetime_seconds
        # {"bucket", "region"}: seed the group in this (DR) region from the newest exported .rdb
        # files the export ledger lists there, instead of from a snapshot
        self.dr_export = dr_export
        self.ledger_bucket = ledger_bucket
        self.ledger_region = ledger_region

    def execute(self, context: Context) -> dict[str, Any]:
        started = datetime.now(UTC)
        client = self.hook.conn
        group_id = self.group_id(context)
        existing = ec.describe_group(client, group_id)
        if existing is not None:
            tags = ec.tags_of(client, existing["ARN"])
            if not is_drill_group(tags) or tags.get("backstop:source") != self.source_id:
                raise UnmanagedGroupError(
                    f"Replication group {group_id} already exists but is not a Backstop drill group of "
                    f"{self.source_id} (tags backstop:managed=true, backstop:drill=true); it is left alone "
                    "and the drill cannot run. Rename or remove it by hand."
                )
            self.log.info("Adopting drill group %s made earlier today (%s)", group_id, existing.get("Status"))
            return {
                "group_id": group_id,
                "snapshot_name": tags.get("backstop:snapshot", ""),
                "started_at": started.isoformat(),
                "adopted": True,
            }
        if self.dr_export:
            return self._from_dr_export(context, client, group_id, started)
        source = ec.describe_group(client, self.source_id)
        snapshot = newest_managed_snapshot(ec.list_snapshots(client, {self.source_id}), self.source_id)
        if snapshot is None:
            raise AirflowFailException(
                f"No available managed snapshot of {self.source_id} to restore: the daily snapshots are "
                "failing or were never made"
            )
        raw = client.describe_snapshots(SnapshotName=snapshot.name)["Snapshots"][0]
        tags = managed_tags(
            policy=self.policy_name,
            tier="drill",
            run_id=str(context["run_id"]),
            extra={
                DRILL_TAG: "true",
                SOURCE_TAG: self.source_id,
                "backstop:snapshot": snapshot.name,
                EXPIRES_TAG: (started + timedelta(seconds=self.max_lifetime_seconds)).strftime(
                    ec.TIME_FORMAT
                ),
            },
        )
        network = ec.source_network(client, source) if source else {}
        self.log.info("Restoring %s from snapshot %s as %s", self.source_id, snapshot.name, group_id)
        ec.create_group_from_snapshot(client, group_id, raw, self.node_type, tags, network)
        return {
            "group_id": group_id,
            "snapshot_name": snapshot.name,
            "snapshot_created_at": snapshot.created_at.isoformat() if snapshot.created_at else None,
            "num_node_groups": raw.get("NumNodeGroups"),
            "started_at": started.isoformat(),
            "adopted": False,
        }

    def _drill_tags(self, context: Context, started: datetime, snapshot_name: str) -> dict[str, str]:
        return managed_tags(
            policy=self.policy_name,
            tier="drill",
            run_id=str(context["run_id"]),
            extra={
                DRILL_TAG: "true",
                SOURCE_TAG: self.source_id,
                "backstop:snapshot": snapshot_name,
                EXPIRES_TAG: (started + timedelta(seconds=self.max_lifetime_seconds)).strftime(
                    ec.TIME_FORMAT
                ),
            },
        )

    def _from_dr_export(
        self, context: Context, client: Any, group_id: str, started: datetime
    ) -> dict[str, Any]:
        """Seed the drill group from the newest .rdb files Backstop exported to the DR bucket.

        The files are the ones the export ledger lists at that bucket (backstop.elasticache.
        export_ledger), each checked to exist; `SnapshotArns` names them, one per shard.
        """
        from backstop.elasticache.export_ledger import CacheExportLedger, location

        assert self.dr_export is not None and self.ledger_bucket
        bucket, region = self.dr_export["bucket"], self.dr_export["region"]
        place = location(region, bucket)
        s3 = make_hook(S3_HOOK, aws_conn_id=self.aws_conn_id, region_name=region, verify=self.verify).conn
        ledger_s3 = make_hook(
            S3_HOOK, aws_conn_id=self.aws_conn_id, region_name=self.ledger_region, verify=self.verify
        ).conn
        records = [
            r
            for r in CacheExportLedger(ledger_s3, self.ledger_bucket).for_region(self.ledger_region or region)
            if r.source_id == self.source_id and r.live_keys(place)
        ]
        for record in sorted(records, key=lambda r: (r.created_at, r.snapshot_name), reverse=True):
            keys = sorted(record.live_keys(place))
            if all(_exists(s3, bucket, key) for key in keys):
                break
        else:
            raise AirflowFailException(
                f"No exported .rdb files of {self.source_id} in s3://{bucket} ({region}) that Backstop's "
                "export ledger lists: the exports are failing, or were never copied to the DR region"
            )
        arns = [f"arn:aws:s3:::{bucket}/{key}" for key in keys]
        kwargs: dict[str, Any] = {
            "ReplicationGroupId": group_id,
            "ReplicationGroupDescription": f"Backstop restore of {record.snapshot_name} from its DR export",
            "SnapshotArns": arns,
            "CacheNodeType": self.node_type,
            "Engine": "redis",
            "Tags": [
                {"Key": k, "Value": v}
                for k, v in self._drill_tags(context, started, record.snapshot_name).items()
            ],
        }
        if len(keys) > 1:  # one file per shard: as many node groups
            kwargs |= {"NumNodeGroups": len(keys), "ClusterMode": "enabled"}
        self.log.info("Seeding %s in %s from %s", group_id, region, ", ".join(arns))
        client.create_replication_group(**kwargs)
        return {
            "group_id": group_id,
            "snapshot_name": record.snapshot_name,
            "snapshot_created_at": record.created_at,
            "seeded_from": arns,
            "num_node_groups": len(keys),
            "started_at": started.isoformat(),
            "adopted": False,
        }


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


class CacheGroupWaitOperator(DeferrableAwsOperator):
    """Wait until a replication group is `available` (or, with target="deleted", deleting or gone)."""

    aws_hook_class = LazyHookClass(ec.ELASTICACHE_HOOK)
    template_fields = aws_template_fields("group_id")

    def __init__(self, *, group_id: str, target: str = "available", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.target = target

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.airflow.cache_triggers import CacheGroupStateTrigger

        client = self.hook.conn
        state, message = self.wait_or_defer(
            poll=lambda: ec.group_state(client, self.group_id, self.target),
            trigger=lambda: CacheGroupStateTrigger(
                group_id=self.group_id, target=self.target, **self.trigger_connection()
            ),
        )
        return self._finish(state, message)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        return self._finish(event["status"], event["message"])

    def _finish(self, state: str, message: str) -> dict[str, Any]:
        if state != "success":
            raise AirflowFailException(f"waiting for {self.group_id} to be {self.target}: {message}")
        self.log.info(message)
        return {"group_id": self.group_id, "state": self.target, "message": message}


class CacheDrillVerifyOperator(_DrillBase):
    """Check the drill group: available, ours, as many shards as the snapshot; measure RTO."""

    template_fields = aws_template_fields("restore")

    def __init__(
        self, *, source_id: str, drill_name: str, restore: Any, rto_seconds: float, **kwargs: Any
    ) -> None:
        super().__init__(source_id=source_id, drill_name=drill_name, **kwargs)
        self.restore = restore
        self.rto_seconds = rto_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        client = self.hook.conn
        group_id = self.restore["group_id"]
        group = ec.describe_group(client, group_id)
        checks: list[dict[str, Any]] = []

        def check(name: str, passed: bool, observed: Any, expected: Any) -> None:
            checks.append({"name": name, "passed": bool(passed), "observed": observed, "expected": expected})

        if group is None:
            raise AirflowFailException(f"drill group {group_id} vanished before it could be verified")
        tags = ec.tags_of(client, group["ARN"])
        check("available", group.get("Status") == "available", group.get("Status"), "available")
        check("managed-drill-tags", is_drill_group(tags), tags.get(MANAGED_TAG), "true")
        expected_shards = self.restore.get("num_node_groups")
        if expected_shards:
            shards = len(group.get("NodeGroups") or ())
            check("node-groups", shards == expected_shards, shards, expected_shards)
        endpoint = (group.get("ConfigurationEndpoint") or {}).get("Address") or next(
            (
                ng.get("PrimaryEndpoint", {}).get("Address")
                for ng in group.get("NodeGroups") or ()
                if ng.get("PrimaryEndpoint")
            ),
            None,
        )
        check("endpoint", bool(endpoint), endpoint, "an address")
        started = datetime.fromisoformat(self.restore["started_at"])
        rto = (datetime.now(UTC) - started).total_seconds()
        check("rto", rto <= self.rto_seconds, round(rto, 3), f"<= {self.rto_seconds:.0f}s")
        result = {
            "group_id": group_id,
            "snapshot_name": self.restore.get("snapshot_name"),
            "rto_seconds": round(rto, 3),
            "checks": checks,
            "passed": all(c["passed"] for c in checks),
        }
        failed = [c for c in checks if not c["passed"]]
        if failed:
            raise AirflowFailException(
                f"ElastiCache drill {self.drill_name} FAILED: "
                + "; ".join(
                    f"check {c['name']}: observed {c['observed']}, expected {c['expected']}" for c in failed
                )
            )
        self.log.info("Drill %s passed: RTO %.1fs", self.drill_name, rto)
        return result


class CacheDrillTeardownOperator(_DrillBase):
    """Delete the drill group, only one tagged backstop:managed=true and backstop:drill=true.

    Runs whatever happened before (trigger rule all_done). It finds the group by its
    deterministic name, so a restore that failed after creating it still gets it deleted.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        client = self.hook.conn
        group_id = self.group_id(context)
        group = ec.describe_group(client, group_id)
        if group is None:
            outcome = "absent"
        else:
            tags = ec.tags_of(client, group["ARN"])
            if not is_drill_group(tags):
                raise UnmanagedGroupError(
                    f"replication group {group_id} is not tagged backstop:managed=true and "
                    "backstop:drill=true: not deleted"
                )
            if group.get("Status") == "deleting":
                outcome = "deleting"
            else:
                ec.delete_group(client, group_id)
                outcome = "deleted"
        self.log.info("Drill group %s: %s", group_id, outcome)
        return {"group_id": group_id, "teardown": outcome}


class CacheDrillReportOperator(_DrillBase):
    """Write the drill report (verify's checks and RTO, the teardown's outcome) to the report bucket.

    Fails, after writing, when the teardown did not confirm the group is gone or going: the
    run is green only when the drill was verified, cleaned up and evidenced.
    """

    def __init__(
        self,
        *,
        source_id: str,
        drill_name: str,
        report_bucket: str,
        verify_task_id: str = "verify",
        teardown_task_id: str = "teardown",
        **kwargs: Any,
    ) -> None:
        super().__init__(source_id=source_id, drill_name=drill_name, **kwargs)
        self.report_bucket = report_bucket
        self.verify_task_id = verify_task_id
        self.teardown_task_id = teardown_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context.get("ti")
        verified = ti.xcom_pull(task_ids=self.verify_task_id) if ti is not None else None
        torn = (ti.xcom_pull(task_ids=self.teardown_task_id) if ti is not None else None) or {}
        group_id = self.group_id(context)
        report = {
            "format": "backstop.elasticache-drill/1",
            "drill": self.drill_name,
            "source": self.source_id,
            "group_id": group_id,
            "run_id": context.get("run_id"),
            "verify": verified,
            "passed": bool(verified and verified.get("passed")),
            "rto_seconds": (verified or {}).get("rto_seconds"),
            "teardown": torn.get("teardown", "not confirmed"),
            "finished_at": datetime.now(UTC).isoformat(),
        }
        day = run_date(context, self.timezone)
        key = f"reports/drills/{day:%Y%m%d}/{self.drill_name}-{_safe(str(context.get('run_id')))}.json"
        s3 = make_hook(
            S3_HOOK, aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify
        )
        s3.load_string(json.dumps(report, indent=2, default=str), key, self.report_bucket, replace=True)
        uri = f"s3://{self.report_bucket}/{key}"
        if report["teardown"] not in ("deleted", "deleting", "absent"):
            raise AirflowFailException(f"drill group {group_id} was not confirmed deleted; report {uri}")
        self.log.info(
            "Drill %s %s; report %s", self.drill_name, "PASSED" if report["passed"] else "FAILED", uri
        )
        return {"report": uri, "passed": report["passed"], "teardown": report["teardown"]}


def _safe(value: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", value)
