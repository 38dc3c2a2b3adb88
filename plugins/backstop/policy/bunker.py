"""The `bunker:` policy section: copies of managed RDS/Aurora snapshots in a separate backup account.

Seed (dr-plan-triflow.md, "보안 사고 대응"): the worst case is the AWS account itself
compromised. Snapshots an attacker can delete with the account's own credentials are no backup
then, so databases that ask for it (`databases`) get a copy in the bunker account, made through
a connection that assumes a role there (`aws_conn_id`, role_arn in its extra), encrypted with
the bunker's KMS key, and pruned only by the bunker's own role with the same retention planner
and interlocks as `retention_prune`. Hooked into BackupPolicy by one field; `cross_check` checks
the references to `rds_snapshots` and `schedules`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from backstop.policy.fields import BucketName, RdsIdentifier, Region, Slug, matching
from backstop.policy.parts import RetentionPolicy, _Strict


def _account_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f"{value!r} is a number; write the account id in quotes (e.g. '210987654321'): YAML drops "
            "the leading zeros of an unquoted number"
        )
    return value


AccountId = Annotated[
    str,
    BeforeValidator(_account_text),
    matching(re.compile(r"^\d{12}$"), "an AWS account id", "12 digits in quotes, e.g. '210987654321'"),
]
RoleArn = Annotated[
    str,
    matching(
        re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"),
        "an IAM role ARN",
        "arn:aws:iam::<account>:role/<name>, e.g. arn:aws:iam::210987654321:role/backstop-bunker",
    ),
]


class BunkerRegion(_Strict):
    """A region of the bunker account that receives copies, with the bunker's KMS key there.

    Copies are made in the region of the snapshot they copy (the source region, or a DR region
    holding a managed DR copy): a shared snapshot is visible to the other account only in its own
    region. The key is the bunker account's (ARN, or an alias of the bunker account).
    """

    region: Region
    kms_key_id: str = Field(min_length=1)


class BunkerDatabase(_Strict):
    """A database that asks for bunker copies: every database of `policy`, or only `id`."""

    policy: Slug
    type: Literal["rds_instance", "aurora_cluster"] | None = None
    id: RdsIdentifier | None = None


class BunkerSettings(_Strict):
    """The backup account, how Backstop reaches it, and what it keeps there."""

    account_id: AccountId
    #: the connection that COPIES: its extra has `role_arn` of the bunker's copy role (which the
    #: source role may assume; it cannot delete) and an ExternalId
    aws_conn_id: str = Field("aws_bunker", min_length=1)
    #: the copy role that connection assumes (documentation and a check: it must be in `account_id`)
    role_arn: RoleArn | None = None
    #: the connection that PRUNES: the bunker's retention role, which the source account cannot
    #: assume (on AWS: a worker running in the bunker account, see `retention_queue`)
    retention_conn_id: str = Field("aws_bunker_retention", min_length=1)
    #: the Celery queue of workers running in the bunker account (None: the default queue)
    retention_queue: str | None = None
    regions: list[BunkerRegion] = Field(min_length=1)
    #: reports of the bunker's retention runs, a bucket in the bunker account
    report_bucket: BucketName
    #: None = bunker copies are never pruned (bunker_retention refuses and says so)
    retention: RetentionPolicy | None = None
    retention_schedule: Slug = "daily"
    databases: list[BunkerDatabase] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> BunkerSettings:
        if self.retention_conn_id == self.aws_conn_id:
            raise ValueError(
                f"retention_conn_id must differ from aws_conn_id ({self.aws_conn_id!r}): the role the source "
                "account may assume to copy must not be the one that can delete bunker copies"
            )
        regions = [r.region for r in self.regions]
        if len(set(regions)) != len(regions):
            raise ValueError(f"regions lists a region twice: {regions}")
        if self.role_arn is not None and self.role_arn.split(":")[4] != self.account_id:
            raise ValueError(
                f"role_arn {self.role_arn!r} is not in the bunker account {self.account_id}; the connection "
                "must assume a role IN the backup account"
            )
        return self


def cross_check(policy: Any) -> list[str]:
    """Problems with the bunker's references to `rds_snapshots` and `schedules` ([] if none)."""
    bunker: BunkerSettings | None = policy.bunker
    if bunker is None:
        return []
    problems: list[str] = []
    by_name = {p.name: p for p in policy.rds_snapshots}
    regions_held: set[str] = set()
    for i, wanted in enumerate(bunker.databases):
        item = by_name.get(wanted.policy)
        if item is None:
            problems.append(
                f"bunker.databases[{i}].policy: {wanted.policy!r} is not an rds_snapshots policy "
                f"(defined: {sorted(by_name)})"
            )
            continue
        regions_held |= {policy.region_of(item), *(d.region for d in item.dr_regions)}
        kinds = [r for r in item.resources if wanted.type in (None, r.type)]
        if not kinds:
            problems.append(f"bunker.databases[{i}].type: policy {wanted.policy!r} protects no {wanted.type}")
        elif wanted.id is not None and not any(r.id in (wanted.id, None) for r in kinds):
            problems.append(
                f"bunker.databases[{i}].id: {wanted.id!r} is not a resource of policy {wanted.policy!r} "
                f"(its ids: {sorted(r.id for r in kinds if r.id)})"
            )
    for j, region in enumerate(bunker.regions):
        if regions_held and region.region not in regions_held:
            problems.append(
                f"bunker.regions[{j}].region: no database in bunker.databases has managed snapshots in "
                f"{region.region} (they are held in {sorted(regions_held)}); a snapshot is shared and "
                "copied in its own region"
            )
    if bunker.retention_schedule not in policy.schedules:
        problems.append(
            f"bunker.retention_schedule: {bunker.retention_schedule!r} is not defined under 'schedules' "
            f"(defined: {sorted(policy.schedules)})"
        )
    return problems
