"""Backstop's AWS calls, and the escalations to refuse, as the authorizations AWS makes.

One API call can need several authorizations: `CreateDBSnapshot` with tags is authorized as
`rds:CreateDBSnapshot` on the source instance, `rds:CreateDBSnapshot` on the new snapshot,
and `rds:AddTagsToResource` on the new snapshot ("tag on create"), all with the request's tags
as `aws:RequestTag/<key>` and `aws:TagKeys`. A call is allowed only when every one of its
authorizations is.

RDS does not document whether, during tag on create, the tags being applied are also visible
as `aws:ResourceTag/<key>` of the resource being created. Every creating call is therefore
built both ways (`mirror_request_tags`) and the policy must allow both.

Names and tags come from `backstop.naming`, so a change there is a change here;
`test_backstop_names_fit_the_policy` checks the names the drills build.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from backstop.naming import (
    DRILL_TAG,
    EXPIRES_TAG,
    MANAGED_TAG,
    PURPOSE_TAG,
    RESTORE_VERIFIED_AT_TAG,
    RESTORE_VERIFIED_TAG,
    SOURCE_ARN_TAG,
    SOURCE_REGION_TAG,
    SOURCE_TAG,
    managed_tags,
    snapshot_name,
)
from tests.iam.evaluator import Request

POLICY_FILE = Path(__file__).resolve().parents[2] / "include" / "iam" / "backstop-policy.json"
ACCOUNT = "111122223333"
PRIMARY = "ap-northeast-2"
DR = "ap-northeast-1"
# The policy's placeholders (include/iam/README.md), replaced as a deployment would.
PLACEHOLDERS = {
    "ACCOUNT_ID": ACCOUNT,
    "TRIFLOW_RDS_KEY_ID": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "BACKSTOP_DR_KEY_ID": "5678efab-56ef-78ab-90cd-5678901234ef",
}


PRODUCTION_DB = "triflow-ai-production-db"
REPORTS = "arn:aws:s3:::triflow-backstop-reports"
PRODUCTION_CLUSTER = "triflow-aurora-production"
RUN_DATE = date(2026, 11, 22)
SNAPSHOT = snapshot_name(PRODUCTION_DB, "weekly", RUN_DATE)
CLUSTER_SNAPSHOT = snapshot_name(PRODUCTION_CLUSTER, "weekly", RUN_DATE)
DRILL_INSTANCE = f"{PRODUCTION_DB}-drill-{RUN_DATE:%Y%m%d}"
MANUAL_RESTORE_INSTANCE = f"{PRODUCTION_DB}-restore-{RUN_DATE:%Y%m%d}0130"

SNAPSHOT_TAGS = managed_tags(
    policy="triflow-rds-weekly", tier="weekly", run_id="scheduled__2026-11-21T18:00:00+00:00"
)
DRILL_TAGS = managed_tags(
    policy="production-pitr",
    tier="drill",
    run_id="scheduled__2026-11-01T18:00:00+00:00",
    extra={DRILL_TAG: "true", EXPIRES_TAG: "2026-11-02T18:00:00Z", SOURCE_TAG: PRODUCTION_DB},
)
MANUAL_RESTORE_TAGS = managed_tags(
    policy="manual-restore",
    tier="restore",
    run_id="manual__2026-11-22T01:30:00+00:00",
    extra={PURPOSE_TAG: "manual-restore", EXPIRES_TAG: "2026-11-23T01:30:00Z", SOURCE_TAG: PRODUCTION_DB},
)


def policy_text(*, deployed: bool = True) -> str:
    text = POLICY_FILE.read_text()
    for placeholder, value in PLACEHOLDERS.items() if deployed else ():
        text = text.replace(placeholder, value)
    return text


def load_policy() -> dict[str, Any]:
    """The policy as deployed: placeholders replaced by sample values."""
    return json.loads(policy_text())


def rds_arn(kind: str, name: str, region: str = PRIMARY) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:{kind}:{name}"


def copy_tags(source_arn: str) -> dict[str, str]:
    return {**SNAPSHOT_TAGS, SOURCE_ARN_TAG: source_arn, SOURCE_REGION_TAG: PRIMARY}


def tags_context(
    *, request: Mapping[str, str] | None = None, resource: Mapping[str, str] | None = None
) -> dict[str, str | list[str]]:
    """`aws:RequestTag/*` + `aws:TagKeys` for tags in the request, `aws:ResourceTag/*` for tags it has."""
    context: dict[str, str | list[str]] = {}
    if request is not None:
        context["aws:TagKeys"] = list(request)
        context.update({f"aws:RequestTag/{k}": v for k, v in request.items()})
    context.update({f"aws:ResourceTag/{k}": v for k, v in (resource or {}).items()})
    return context


@dataclass(frozen=True)
class Call:
    """One API call (`api`, e.g. "rds:CreateDBSnapshot") and every authorization it needs."""

    name: str
    api: str
    checks: tuple[Request, ...]


def call(name: str, api: str, *checks: Request) -> Call:
    return Call(name, api, checks)


def simple(name: str, action: str, resource: str, **context: str | list[str]) -> Call:
    return Call(name, action, (Request(action, resource, context),))


def creating(
    name: str,
    action: str,
    new_arn: str,
    tags: Mapping[str, str],
    *,
    also_on: tuple[str, ...] = (),
    mirror_request_tags: bool = False,
) -> Call:
    """A call that creates `new_arn` with `tags` (tag on create), also authorized on `also_on`."""
    request = tags_context(request=tags) if tags else {}
    on_new = tags_context(request=tags, resource=tags if mirror_request_tags else None) if tags else {}
    checks = [Request(action, arn, request) for arn in also_on] + [Request(action, new_arn, on_new)]
    if tags:  # no tags in the request: no tag-on-create authorization
        checks.append(Request("rds:AddTagsToResource", new_arn, on_new))
    return Call(name, action, tuple(checks))


def tag_on_create_check(new_arn: str, tags: Mapping[str, str]) -> Request:
    """The tag-on-create authorization of a creating call, without mirrored resource tags."""
    return Request("rds:AddTagsToResource", new_arn, tags_context(request=tags))


def legitimate_calls(*, mirror_request_tags: bool) -> list[Call]:
    """Every kind of AWS call Backstop makes, with the names and tags it uses."""
    mirror = {"mirror_request_tags": mirror_request_tags}
    db = rds_arn("db", PRODUCTION_DB)
    cluster = rds_arn("cluster", PRODUCTION_CLUSTER)
    snapshot = rds_arn("snapshot", SNAPSHOT)
    cluster_snapshot = rds_arn("cluster-snapshot", CLUSTER_SNAPSHOT)
    dr_snapshot = rds_arn("snapshot", SNAPSHOT, DR)
    dr_cluster_snapshot = rds_arn("cluster-snapshot", CLUSTER_SNAPSHOT, DR)
    dr_key = f"arn:aws:kms:{DR}:{ACCOUNT}:key/{PLACEHOLDERS['BACKSTOP_DR_KEY_ID']}"
    via_rds_dr = {"kms:ViaService": f"rds.{DR}.amazonaws.com"}
    verified = {RESTORE_VERIFIED_TAG: "true", RESTORE_VERIFIED_AT_TAG: "2026-11-01T19:02:00Z"}
    restore_groups = (
        rds_arn("subgrp", "triflow-production-db-subnets", DR),
        rds_arn("pg", "default.postgres16", DR),
        rds_arn("og", "default:postgres-16", DR),
    )
    pitr_groups = (
        rds_arn("subgrp", "triflow-production-db-subnets"),
        rds_arn("pg", "triflow-production-postgres16"),
        rds_arn("og", "default:postgres-16"),
    )
    return [
        simple("list instances", "rds:DescribeDBInstances", db),
        simple("list clusters", "rds:DescribeDBClusters", cluster),
        simple("describe a snapshot", "rds:DescribeDBSnapshots", snapshot),
        simple("describe a cluster snapshot", "rds:DescribeDBClusterSnapshots", cluster_snapshot),
        simple("read a snapshot's tags", "rds:ListTagsForResource", snapshot),
        simple("read an instance's tags", "rds:ListTagsForResource", db),
        simple("PITR window", "rds:DescribeDBInstanceAutomatedBackups", db),
        simple("DR subnet group", "rds:DescribeDBSubnetGroups", restore_groups[0]),
        simple("failover drill: the instance's events", "rds:DescribeEvents", db),
        simple(
            "failover drill: fail over a staging instance",
            "rds:RebootDBInstance",
            rds_arn("db", "triflow-ai-staging-ha-db"),
            **tags_context(resource={"environment": "staging"}),
        ),
        simple(
            "failover drill: fail over a staging Aurora cluster",
            "rds:FailoverDBCluster",
            rds_arn("cluster", "triflow-ai-staging-aurora"),
            **tags_context(resource={"environment": "staging"}),
        ),
        simple(
            "failover drill: the cluster's events",
            "rds:DescribeEvents",
            rds_arn("cluster", "triflow-ai-staging-aurora"),
        ),
        creating(
            "snapshot an instance", "rds:CreateDBSnapshot", snapshot, SNAPSHOT_TAGS, also_on=(db,), **mirror
        ),
        creating(
            "snapshot a cluster",
            "rds:CreateDBClusterSnapshot",
            cluster_snapshot,
            SNAPSHOT_TAGS,
            also_on=(cluster,),
            **mirror,
        ),
        creating(
            "copy a snapshot to the DR region",
            "rds:CopyDBSnapshot",
            dr_snapshot,
            copy_tags(snapshot),
            also_on=(snapshot,),
            **mirror,
        ),
        creating(
            "copy a cluster snapshot to the DR region",
            "rds:CopyDBClusterSnapshot",
            dr_cluster_snapshot,
            copy_tags(cluster_snapshot),
            also_on=(cluster_snapshot,),
            **mirror,
        ),
        call(
            "KMS grant for an encrypted copy",
            "kms:CreateGrant",
            Request("kms:CreateGrant", dr_key, via_rds_dr),
            Request("kms:DescribeKey", dr_key, via_rds_dr),
        ),
        call(
            "copy verification resolves the policy's DR key (DescribeKey, not via RDS)",
            "kms:DescribeKey",
            Request("kms:DescribeKey", dr_key, {}),
        ),
        simple(
            "retention deletes a managed snapshot",
            "rds:DeleteDBSnapshot",
            snapshot,
            **tags_context(resource=SNAPSHOT_TAGS),
        ),
        simple(
            "retention deletes a managed DR copy",
            "rds:DeleteDBSnapshot",
            dr_snapshot,
            **tags_context(resource=copy_tags(snapshot)),
        ),
        simple(
            "retention deletes a managed cluster snapshot",
            "rds:DeleteDBClusterSnapshot",
            cluster_snapshot,
            **tags_context(resource=SNAPSHOT_TAGS),
        ),
        creating(
            "drill restores a DR snapshot",
            "rds:RestoreDBInstanceFromDBSnapshot",
            rds_arn("db", DRILL_INSTANCE, DR),
            DRILL_TAGS,
            also_on=(dr_snapshot, *restore_groups),
            **mirror,
        ),
        creating(
            "drill restores to a point in time",
            "rds:RestoreDBInstanceToPointInTime",
            rds_arn("db", DRILL_INSTANCE),
            DRILL_TAGS,
            also_on=(db, *pitr_groups),
            **mirror,
        ),
        creating(
            "manual restore to a point in time",
            "rds:RestoreDBInstanceToPointInTime",
            rds_arn("db", MANUAL_RESTORE_INSTANCE),
            MANUAL_RESTORE_TAGS,
            also_on=(db, *pitr_groups),
            **mirror,
        ),
        simple(
            "a passing drill tags the snapshot it restored",
            "rds:AddTagsToResource",
            dr_snapshot,
            **tags_context(request=verified, resource=copy_tags(snapshot)),
        ),
        simple(
            "drill teardown turns off deletion protection",
            "rds:ModifyDBInstance",
            rds_arn("db", DRILL_INSTANCE, DR),
            **tags_context(resource=DRILL_TAGS),
        ),
        simple(
            "drill teardown and the sweeper delete a drill instance",
            "rds:DeleteDBInstance",
            rds_arn("db", DRILL_INSTANCE, DR),
            **tags_context(resource=DRILL_TAGS),
        ),
        simple(
            "drills read the DB credentials",
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{PRIMARY}:{ACCOUNT}:secret:triflow/production/db-master-AbCdEf",
        ),
        simple(
            "reports go to the report bucket",
            "s3:PutObject",
            "arn:aws:s3:::triflow-backstop-reports/reports/drills/2026/11/report.json",
        ),
        # backup_freshness: its evidence and alert state, and the drill reports it summarises
        simple("freshness reads its alert state", "s3:GetObject", f"{REPORTS}/freshness/state.json"),
        simple(
            "freshness writes a run's evidence",
            "s3:PutObject",
            f"{REPORTS}/freshness/runs/20261122T031500Z.json",
        ),
        simple(
            "freshness lists the drill reports", "s3:ListBucket", REPORTS, **{"s3:prefix": "reports/drills/"}
        ),
        simple(
            "freshness reads a drill report", "s3:GetObject", f"{REPORTS}/reports/drills/20261101/d-r.json"
        ),
        # the DR console (in the API server): the evidence above, plus retention plans and restore reports
        simple(
            "console lists retention plans", "s3:ListBucket", REPORTS, **{"s3:prefix": "reports/retention/"}
        ),
        simple(
            "console reads a retention plan", "s3:GetObject", f"{REPORTS}/reports/retention/20261122/r.json"
        ),
        simple(
            "console lists restore reports", "s3:ListBucket", REPORTS, **{"s3:prefix": "reports/restores/"}
        ),
        simple(
            "console reads a restore report", "s3:GetObject", f"{REPORTS}/reports/restores/20261122/m.json"
        ),
        simple("console reads the freshness evidence", "s3:GetObject", f"{REPORTS}/freshness/latest.json"),
    ]


def escalations() -> list[Call]:
    """What the role must not do (Trust issue, item 10, and its neighbours)."""
    db = rds_arn("db", PRODUCTION_DB)
    managed = {MANAGED_TAG: "true"}
    human_snapshot = rds_arn("snapshot", f"{PRODUCTION_DB}-before-upgrade")
    automated_snapshot = rds_arn("snapshot", f"rds:{PRODUCTION_DB}-2026-11-22-03-05")
    managed_snapshot = rds_arn("snapshot", SNAPSHOT)
    return [
        simple(
            "tag a human's snapshot backstop:managed=true",
            "rds:AddTagsToResource",
            human_snapshot,
            **tags_context(request=managed, resource={"owner": "dba"}),
        ),
        simple(
            "tag an automated snapshot backstop:managed=true",
            "rds:AddTagsToResource",
            automated_snapshot,
            **tags_context(request=managed),
        ),
        simple(
            "tag the production instance managed + drill",
            "rds:AddTagsToResource",
            db,
            **tags_context(request={**managed, DRILL_TAG: "true"}, resource={"env": "production"}),
        ),
        simple(
            "tag the production instance managed",
            "rds:AddTagsToResource",
            db,
            **tags_context(request=managed),
        ),
        simple(
            "tag the production cluster managed",
            "rds:AddTagsToResource",
            rds_arn("cluster", PRODUCTION_CLUSTER),
            **tags_context(request=managed),
        ),
        simple(
            "rewrite a managed snapshot's backstop tags (no managed key in the request)",
            "rds:AddTagsToResource",
            managed_snapshot,
            **tags_context(request={"backstop:tier": "daily"}, resource=SNAPSHOT_TAGS),
        ),
        simple(
            "remove backstop:managed from a managed snapshot",
            "rds:RemoveTagsFromResource",
            managed_snapshot,
            **{"aws:TagKeys": [MANAGED_TAG]},
            **tags_context(resource=SNAPSHOT_TAGS),
        ),
        simple(
            "remove backstop:restore-verified so retention prunes the snapshot",
            "rds:RemoveTagsFromResource",
            managed_snapshot,
            **{"aws:TagKeys": [RESTORE_VERIFIED_TAG]},
            **tags_context(resource={**SNAPSHOT_TAGS, RESTORE_VERIFIED_TAG: "true"}),
        ),
        simple(
            "delete an untagged snapshot (even one with a Backstop-shaped name)",
            "rds:DeleteDBSnapshot",
            managed_snapshot,
        ),
        simple("delete a human's snapshot", "rds:DeleteDBSnapshot", human_snapshot),
        simple(
            "delete a human's snapshot that someone else tagged managed",
            "rds:DeleteDBSnapshot",
            human_snapshot,
            **tags_context(resource=managed),
        ),
        simple(
            "delete an untagged cluster snapshot",
            "rds:DeleteDBClusterSnapshot",
            rds_arn("cluster-snapshot", CLUSTER_SNAPSHOT),
        ),
        simple("delete the production instance", "rds:DeleteDBInstance", db),
        simple(
            "fail over the production instance (resilience drills are staging only)",
            "rds:RebootDBInstance",
            db,
            **tags_context(resource={"environment": "production"}),
        ),
        simple(
            "fail over the production Aurora cluster (resilience drills are staging only)",
            "rds:FailoverDBCluster",
            rds_arn("cluster", PRODUCTION_CLUSTER),
            **tags_context(resource={"environment": "production"}),
        ),
        simple(
            "fail over an untagged Aurora cluster",
            "rds:FailoverDBCluster",
            rds_arn("cluster", "triflow-ai-staging-aurora"),
        ),
        simple(
            "delete the production instance after someone else tagged it managed + drill",
            "rds:DeleteDBInstance",
            db,
            **tags_context(resource={**managed, DRILL_TAG: "true"}),
        ),
        simple(
            "turn off the production instance's deletion protection",
            "rds:ModifyDBInstance",
            db,
            **tags_context(resource={"env": "production"}),
        ),
        simple(
            "delete a manual restore (managed, not a drill)",
            "rds:DeleteDBInstance",
            rds_arn("db", MANUAL_RESTORE_INSTANCE),
            **tags_context(resource=MANUAL_RESTORE_TAGS),
        ),
        simple(
            "share a managed snapshot with another account",
            "rds:ModifyDBSnapshotAttribute",
            managed_snapshot,
            **tags_context(resource=SNAPSHOT_TAGS),
        ),
        creating(
            "create an untagged snapshot",
            "rds:CreateDBSnapshot",
            rds_arn("snapshot", SNAPSHOT),
            {},
            also_on=(db,),
        ),
        creating(
            "create a snapshot without backstop:managed",
            "rds:CreateDBSnapshot",
            rds_arn("snapshot", SNAPSHOT),
            {"backstop:tier": "weekly"},
            also_on=(db,),
        ),
        simple(
            "write outside reports/ and freshness/ in the report bucket",
            "s3:PutObject",
            f"{REPORTS}/index.html",
        ),
        simple("freshness deletes its own evidence", "s3:DeleteObject", f"{REPORTS}/freshness/latest.json"),
        simple(
            "console reads outside reports/ and freshness/", "s3:GetObject", f"{REPORTS}/private/notes.json"
        ),
    ]
