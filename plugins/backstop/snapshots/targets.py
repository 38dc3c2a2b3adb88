"""Which databases a snapshot run covers: the policy's resources, tag selectors resolved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import RDS_HOOK, LazyHookClass
from backstop.aws.rds_databases import tagged_databases


class RdsResolveTargetsOperator(BackstopAwsOperator):
    """Turn the policy's resource list into one snapshot job per database.

    Resources named by id pass through unchanged (a missing one fails its own snapshot task,
    not the others). Tag selectors are resolved here with DescribeDBInstances /
    DescribeDBClusters in the policy's region. The output feeds `expand_kwargs` of
    `RdsManagedSnapshotOperator`. A policy that resolves to nothing fails: an empty backup run
    must not look like a successful one.

    :param targets: dicts with keys policy, tier, region, type ("rds_instance" |
        "aurora_cluster"), id or selector ({"tags": {...}}), alert_channel.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("targets")

    def __init__(self, *, targets: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = targets

    @property
    def resource_id(self) -> str:
        """What a failure alert names: the policies whose targets were being resolved."""
        return "targets of " + ", ".join(sorted({t["policy"] for t in self.targets}))

    def execute(self, context: Context) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        seen: dict[tuple[str, str, str], dict[str, Any]] = {}
        for target in self.targets:
            db_type = "instance" if target["type"] == "rds_instance" else "cluster"
            if target.get("id"):
                identifiers = [target["id"]]
            else:
                wanted = target["selector"]["tags"]
                identifiers = tagged_databases(self.client(target["region"]), db_type, wanted)
                if not identifiers:
                    self.log.warning(
                        "Policy %s: no %s in %s carries tags %s; nothing selected by it",
                        target["policy"],
                        target["type"],
                        target["region"],
                        wanted,
                    )
                else:
                    self.log.info("Policy %s: selector %s matched %s", target["policy"], wanted, identifiers)
            for identifier in identifiers:
                key = (target["region"], db_type, identifier)
                if key in seen:
                    # Never silently: back it up under the first policy, then fail its task loudly.
                    first = seen[key]
                    first["conflict"] = (
                        f"{db_type} {identifier} is selected by policy {first['policy_name']!r} and by policy "
                        f"{target['policy']!r} (tier selectors overlap); only {first['policy_name']!r} applies "
                        f"(its DR regions and retention), so {target['policy']!r}'s do not. Fix the tags or "
                        "the selectors so each database belongs to one policy per tier."
                    )
                    self.log.error("%s", first["conflict"])
                    continue
                seen[key] = {
                    "db_type": db_type,
                    "db_identifier": identifier,
                    "region_name": target["region"],
                    "policy_name": target["policy"],
                    "alert_channel": target.get("alert_channel"),
                    "conflict": None,
                }
                jobs.append(seen[key])
        if not jobs:
            raise AirflowFailException(
                "The policy selected no resources to back up (every selector matched nothing). "
                "Check the tags in include/backup_policy.yaml against the account."
            )
        for job in jobs:
            self.log.info(
                "Will snapshot %s %s in %s", job["db_type"], job["db_identifier"], job["region_name"]
            )
        return jobs
