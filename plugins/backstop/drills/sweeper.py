"""The cost guard: delete drill leftovers whose `backstop:expires-at` has passed.

A drill that died half-way (worker lost, teardown never ran or failed) leaves its RDS
instance, DynamoDB table or ElastiCache replication group behind. One loop over per-store
adapters (backstop.drills.sweep_stores) lists the candidates of each region; `sweep_decision`
(pure) says what to do with each; the operator deletes the expired ones Backstop made and
tells Slack. The grace period is the drill's own `max_lifetime`, written as
`backstop:expires-at` when the drill created the resource: nothing is deleted before it.
Manual runs are dry runs unless `dry_run` is off and `confirm_delete` typed DELETE
(backstop.retention.operators.resolve_dry_run); scheduled runs delete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import RDS_HOOK, LazyHookClass, make_hook
from backstop.drills.sweep_stores import STORES, Leftover
from backstop.drills.times import iso, parse_time
from backstop.naming import EXPIRES_TAG


def sweep_decision(leftover: Leftover, now: datetime) -> tuple[str, datetime | None]:
    """("ignore" | "stranger" | "problem" | "keep" | "delete", expires-at) for one leftover.

    Only what a Backstop drill made is considered (`leftover.ours`); a drill-named resource
    without the tags is a "stranger" (reported, never touched); an expires-at that does not
    parse is a "problem" (reported, left alone); one already being deleted is ignored.
    """
    if not leftover.ours:
        return ("stranger" if leftover.named_like_drill else "ignore"), None
    try:
        expires = parse_time(leftover.tags.get(EXPIRES_TAG))
    except ValueError:
        expires = None
    if expires is None:
        return "problem", None
    if expires > now:
        return "keep", expires
    if leftover.going:
        return "ignore", expires
    return "delete", expires


def sweep_message(deleted: Sequence[Mapping[str, Any]], problems: Sequence[str]) -> tuple[str, list[dict]]:
    """Slack text and blocks: what was deleted, and what was left alone and why."""
    lines = [f"• {d['what']} `{d['id']}` in {d['region']} (expired {d['expired_at']})" for d in deleted]
    lines += [f"• left alone: {p}" for p in problems]
    text = f"Backstop drill sweeper deleted {len(deleted)} expired drill leftover(s)"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text + ":\n" + "\n".join(lines)}}]
    return text + ": " + ", ".join(d["id"] for d in deleted), blocks


def _check_stores(stores: Any) -> None:
    if not isinstance(stores, dict):
        raise ValueError(f"stores: expected store name -> regions, got {type(stores).__name__}")
    unknown = sorted(set(stores) - set(STORES))
    if unknown:
        raise ValueError(f"stores: unknown store(s) {unknown}; expected some of {sorted(STORES)}")


class DrillOrphanSweeperOperator(BackstopAwsOperator):
    """Delete drill leftovers (RDS instances, DynamoDB tables, ElastiCache groups) past backstop:expires-at.

    :param stores: store name ("rds", "dynamodb", "elasticache") -> the regions to look in.
    :param channel: Slack channel told what was deleted (and what was left alone and why).

    Only resources tagged backstop:managed=true AND backstop:drill=true (and, for DynamoDB and
    ElastiCache, named like a drill) are considered. One store or region that cannot be read,
    or one delete that fails, does not stop the others; the task then fails naming them.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("stores")

    def __init__(
        self,
        *,
        stores: dict[str, list[str]],
        channel: str,
        slack_conn_id: str = "slack_api_default",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if isinstance(stores, dict):  # else a template, checked once rendered (execute)
            _check_stores(stores)
        self.stores = stores
        self.channel = channel
        self.slack_conn_id = slack_conn_id

    def store_client(self, store: str, region: str) -> Any:
        """The boto3 client of `store` in `region` (cached; tests hook faults onto it)."""
        cache_ = self.__dict__.setdefault("_store_clients", {})
        if (store, region) not in cache_:
            adapter = STORES[store]
            cache_[(store, region)] = make_hook(
                adapter.hook_path,
                aws_conn_id=self.aws_conn_id,
                region_name=region,
                verify=self.verify,
                botocore_config=self.botocore_config,
                **adapter.hook_kwargs,
            ).conn
        return cache_[(store, region)]

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.retention.operators import resolve_dry_run

        _check_stores(self.stores)
        dry_run = resolve_dry_run(context)
        now = datetime.now(UTC)
        deleted, would_delete, kept, problems, strangers, errors = [], [], [], [], [], []
        for name, regions in self.stores.items():
            adapter = STORES[name]
            for region in regions:
                try:
                    client = self.store_client(name, region)
                    leftovers = list(adapter.leftovers(client, region))
                except Exception as exc:
                    errors.append(f"listing {name} in {region}: {exc}")
                    continue
                for leftover in leftovers:
                    decision, expires = sweep_decision(leftover, now)
                    row = {"store": name, "what": adapter.what, "id": leftover.ident, "region": region}
                    if decision == "stranger":
                        strangers.append(row)
                        self.log.warning(
                            "%s %s (%s) has a drill name but not Backstop's drill tags: left alone",
                            adapter.what,
                            leftover.ident,
                            region,
                        )
                    elif decision == "problem":
                        problems.append(
                            f"{adapter.what} {leftover.ident} ({region}): "
                            f"{EXPIRES_TAG}={leftover.tags.get(EXPIRES_TAG)!r} is not a time"
                        )
                    elif decision == "keep":
                        kept.append({**row, "expires_at": iso(expires)})
                    elif decision == "delete":
                        row["expired_at"] = iso(expires)
                        if dry_run:
                            self.log.info(
                                "DRY RUN: would delete %s %s in %s", adapter.what, leftover.ident, region
                            )
                            would_delete.append(row)
                            continue
                        self.log.warning(
                            "%s %s in %s expired at %s: deleting",
                            adapter.what,
                            leftover.ident,
                            region,
                            row["expired_at"],
                        )
                        try:
                            row["outcome"] = adapter.delete(client, leftover, self.log)
                        except Exception as exc:
                            errors.append(f"deleting {adapter.what} {leftover.ident} ({region}): {exc}")
                            continue
                        deleted.append(row)
        for line in problems:
            self.log.warning("%s", line)
        if (deleted or problems) and not dry_run:
            from backstop.airflow.slack import post_message

            text, blocks = sweep_message(deleted, problems)
            post_message(self.channel, text, blocks, self.slack_conn_id)
        result = {
            "dry_run": dry_run,
            "deleted": deleted,
            "would_delete": would_delete,
            "kept": kept,
            "problems": problems,
            "left_alone": strangers,
            "errors": errors,
        }
        if errors:
            raise AirflowException("drill sweeper: " + "; ".join(errors))
        return result
