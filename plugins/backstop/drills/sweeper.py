"""The cost guard: delete drill instances whose `backstop:expires-at` has passed.

A drill that died half-way (worker lost, teardown never ran or failed) leaves its instance
behind. `sweep_decision` (pure) says what to do with one instance; the operator lists the
instances of each region, deletes the expired managed drill instances and tells Slack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import RDS_HOOK, LazyHookClass
from backstop.drills.instances import delete_drill_instance, is_drill_instance
from backstop.drills.times import iso, parse_time
from backstop.naming import EXPIRES_TAG


def sweep_decision(
    instance: Mapping[str, Any], tags: Mapping[str, str], now: datetime
) -> tuple[str, datetime | None]:
    """("ignore" | "problem" | "keep" | "delete", expires-at) for one DescribeDBInstances item.

    Only managed drill instances are considered; an expires-at that does not parse is a
    problem (reported, left alone); one already `deleting` is ignored.
    """
    if not is_drill_instance(tags):
        return "ignore", None
    try:
        expires = parse_time(tags.get(EXPIRES_TAG))
    except ValueError:
        expires = None
    if expires is None:
        return "problem", None
    if expires > now:
        return "keep", expires
    if instance.get("DBInstanceStatus") == "deleting":
        return "ignore", expires
    return "delete", expires


def sweep_message(deleted: Sequence[Mapping[str, Any]], problems: Sequence[str]) -> tuple[str, list[dict]]:
    """Slack text and blocks: what was deleted, and what was left alone and why."""
    lines = [f"• `{d['instance_id']}` in {d['region']} (expired {d['expired_at']})" for d in deleted]
    lines += [f"• left alone: {p}" for p in problems]
    text = f"Backstop drill sweeper deleted {len(deleted)} expired drill instance(s)"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text + ":\n" + "\n".join(lines)}}]
    return text + ": " + ", ".join(d["instance_id"] for d in deleted), blocks


class DrillOrphanSweeperOperator(BackstopAwsOperator):
    """Delete drill instances whose backstop:expires-at has passed (a drill died half-way).

    Only instances tagged backstop:managed=true AND backstop:drill=true are considered; an
    expires-at that does not parse is reported and left alone. Tells Slack what it deleted.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("regions")

    def __init__(
        self, *, regions: list[str], channel: str, slack_conn_id: str = "slack_api_default", **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.regions = regions
        self.channel = channel
        self.slack_conn_id = slack_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.aws.rds_instances import instance_tags, list_instances

        now = datetime.now(UTC)
        deleted, kept, problems = [], [], []
        for region in self.regions:
            client = self.client(region)
            for instance in list_instances(client):
                identifier = instance["DBInstanceIdentifier"]
                tags = instance_tags(instance, client)
                decision, expires = sweep_decision(instance, tags, now)
                if decision == "problem":
                    problems.append(
                        f"{identifier} ({region}): {EXPIRES_TAG}={tags.get(EXPIRES_TAG)!r} is not a time"
                    )
                elif decision == "keep":
                    kept.append({"instance_id": identifier, "region": region, "expires_at": iso(expires)})
                elif decision == "delete":
                    self.log.warning("%s in %s expired at %s: deleting", identifier, region, iso(expires))
                    delete_drill_instance(client, instance, self.log)
                    deleted.append({"instance_id": identifier, "region": region, "expired_at": iso(expires)})
        for line in problems:
            self.log.warning("%s", line)
        if deleted or problems:
            from backstop.airflow.slack import post_message

            text, blocks = sweep_message(deleted, problems)
            post_message(self.channel, text, blocks, self.slack_conn_id)
        return {"deleted": deleted, "kept": kept, "problems": problems}
