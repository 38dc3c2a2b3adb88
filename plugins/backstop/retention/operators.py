"""Retention operators: list managed snapshots, plan what goes (pure planner), delete it.

The plan task lists every snapshot in the source and DR regions (describe pages only: the
tags come with them), asks `backstop.retention.plan_retention` for keep/delete decisions,
prints the plan as a table, streams it as JSON to the report bucket (`backstop.retention.report`)
and tells Slack about resources whose pruning was halted or refused. Its XCom is a pointer to
that report plus counts, a few KB whatever the fleet size.

The apply task reads the `delete` decisions back from the report (streamed, in chunks),
re-checks each snapshot against a fresh listing just before deleting it, and deletes from a
small thread pool; deleting something already gone is fine. A delete that fails does not stop
the others: the task fails at the end, naming every snapshot it could not delete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import RDS_HOOK, S3_HOOK, LazyHookClass, make_hook
from backstop.aws.rds_snapshots import delete_snapshot, error_code, list_snapshots
from backstop.naming import SOURCE_ARN_TAG, is_managed
from backstop.retention.planner import rules_from_dict  # pure; also importable from here, as before

TABLE_LOG_ROWS = 2000  # plan table lines per log record
APPLY_CHUNK = 1000  # deletions read from the report, re-checked and deleted per round
XCOM_NAMES_SAMPLE = 100  # names per outcome list in the apply task's XCom (counts has the totals)
FAILURES_NAMED = 20  # failed deletions named in the task's error (the log has every one)
DEFAULT_MAX_POOL_CONNECTIONS = 10  # botocore's HTTP connection pool per client


#: what a person types in `confirm_delete` to delete on a manual run
DELETE_CONFIRMATION = "DELETE"


def deletion_params(what: str) -> dict[str, Any]:
    """The two Params of every DAG that prunes (RDS, DynamoDB, ElastiCache), so the form and its
    meaning are the same everywhere; `resolve_dry_run` reads them. `what` names what is deleted."""
    from airflow.sdk import Param

    return {
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run: plan and report only, delete nothing",
            description=f"Manual runs: on (the default) plans and writes the report, deleting no {what}. "
            "A REAL RUN that deletes needs this switched off AND confirm_delete typed as DELETE. "
            "Scheduled runs always follow the policy (they delete).",
        ),
        "confirm_delete": Param(
            None,
            type=["null", "string"],
            title="Real run: type DELETE to confirm",
            description=f"With dry run switched off, type DELETE to delete the {what} the plan names on "
            "this manual run. Anything else, with dry run off, fails the run before deleting.",
        ),
    }


def resolve_dry_run(context: Context) -> bool:
    """Whether this run only plans. Deleting is never one UI toggle away:

    - a scheduled run deletes (the form's values are its defaults; nobody typed anything);
    - a manual run deletes only with `dry_run` switched off AND `confirm_delete` typed as DELETE;
    - `dry_run` on (the default; null or absent count as on) is a dry run, whatever was typed;
    - `dry_run` off without the typed confirmation is a mistake, refused before anything is
      listed or deleted (a clear error beats a silent dry run the person did not ask for).
    """
    params = context.get("params") or {}
    run_type = getattr(context.get("dag_run"), "run_type", "manual")
    # The Task SDK's DagRunType is a (str, Enum): str() gives "DagRunType.SCHEDULED", not "scheduled".
    if str(getattr(run_type, "value", run_type)) == "scheduled":
        return False
    if params.get("dry_run") is not False:
        return True
    if params.get("confirm_delete") != DELETE_CONFIRMATION:
        dag_id = getattr(context.get("dag"), "dag_id", None) or "retention_prune"
        raise AirflowFailException(
            f"{dag_id}: dry_run is off but confirm_delete is {params.get('confirm_delete')!r}; "
            f"a real run needs confirm_delete typed exactly as {DELETE_CONFIRMATION}. Nothing was deleted."
        )
    return False


def plan_time(context: Context) -> datetime:
    """`now` for the planner: the wall clock, or the run's logical date if that is later.

    A late run or a retry uses the wall clock, so a snapshot taken after the scheduled time
    is not mistaken for clock skew. A logical date in the future moves "now" forward: that
    is how tests and the demo age snapshots that moto cannot backdate.
    """
    wall = datetime.now(UTC)
    when = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    if when is None:
        return wall
    # A plain stdlib datetime: pendulum's DateTime + timedelta loses the zone in comparisons.
    return max(wall, datetime.fromtimestamp(when.timestamp(), UTC))


# A plan older than this is not applied (a cleared apply task of a past run must re-plan).
MAX_PLAN_AGE = timedelta(hours=6)


class RetentionPlanOperator(BackstopAwsOperator):
    """Inventory snapshots, plan retention, report the plan; returns a pointer to the report.

    :param regions: every region to inventory (source regions and DR regions).
    :param rules: policy name -> rules dict (keep, min_keep, max_staleness in seconds,
        timezone), as `backstop.policy.views.retention_rules` builds them.
    :param report_bucket: S3 bucket for the JSON plan (reports/retention/...).
    :param alert_channel: Slack channel for halted/refused pruning (policies without their own).
    :param policy_channels: policy name -> its `slack_channel`: a halt is told to that channel.
    :param slack_conn_id: Airflow connection holding the Slack token.
    :param clock_skew_seconds: a snapshot created further in the future aborts the run.
    :param report_part_bytes: the report is uploaded in parts of this size (S3 minimum 5 MiB).

    Returns (XCom) `backstop.retention.report.plan_xcom`: dry_run, the report's URI, ETag and
    version, counts, and the first halted resources; never the decisions themselves.
    """

    aws_hook_class = LazyHookClass(S3_HOOK)
    regional_hook_class = LazyHookClass(RDS_HOOK)  # client(region): RDS in each region
    template_fields: Sequence[str] = aws_template_fields("regions", "report_bucket")

    def __init__(
        self,
        *,
        regions: list[str],
        rules: dict[str, dict[str, Any] | None],
        report_bucket: str,
        alert_channel: str,
        policy_channels: dict[str, str] | None = None,
        slack_conn_id: str = "slack_api_default",
        clock_skew_seconds: float = 300,
        report_part_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        from backstop.retention.report import MIN_PART_BYTES, PART_BYTES

        super().__init__(**kwargs)
        if report_part_bytes is not None and report_part_bytes < MIN_PART_BYTES:
            raise ValueError(f"report_part_bytes must be at least {MIN_PART_BYTES} (S3's smallest part)")
        self.report_part_bytes = report_part_bytes or PART_BYTES
        self.regions = regions
        self.rules = rules
        self.report_bucket = report_bucket
        self.alert_channel = alert_channel
        self.policy_channels = dict(policy_channels or {})
        self.slack_conn_id = slack_conn_id
        self.clock_skew_seconds = clock_skew_seconds

    @property
    def resource_id(self) -> str:
        """What a failure alert names: the managed snapshots being planned, by region."""
        regions = self.regions if isinstance(self.regions, list) else [str(self.regions)]
        return "managed snapshots in " + ", ".join(regions)

    def inventory(self) -> list[Any]:
        from backstop.retention.planner import SnapshotRecord

        records = []
        for region in sorted(set(self.regions)):
            client = self.client(region)
            for db_type in ("instance", "cluster"):
                listed_at = datetime.now(UTC)
                records += [
                    SnapshotRecord.from_info(info, region, db_type, listed_at)
                    for info in list_snapshots(client, db_type)
                ]
        return records

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.retention.planner import DELETE, KEEP, PlanAborted, plan_retention
        from backstop.retention.report import plan_xcom, report_key, write_report

        dry_run = resolve_dry_run(context)
        now = plan_time(context)
        records = self.inventory()
        in_flight = {
            r.tags[SOURCE_ARN_TAG] for r in records if SOURCE_ARN_TAG in r.tags and r.status != "available"
        }
        self.log.info(
            "Inventory: %d snapshots in %s; %d copies in flight; planning at %s (%s)",
            len(records),
            sorted(set(self.regions)),
            len(in_flight),
            now.isoformat(),
            "DRY RUN" if dry_run else "real run",
        )
        rules = {name: rules_from_dict(value) for name, value in self.rules.items()}
        try:
            plan = plan_retention(
                records,
                rules,
                now,
                in_flight_copy_sources=in_flight,
                clock_skew=timedelta(seconds=self.clock_skew_seconds),
            )
        except PlanAborted as exc:
            raise AirflowFailException(f"Retention aborted, nothing deleted: {exc}") from exc
        counts = plan.counts()
        self._log_table(plan, counts, dry_run, (KEEP, DELETE))
        key = report_key(now, context.get("run_id"))
        meta = {"dry_run": dry_run, "run_id": context.get("run_id"), "regions": sorted(set(self.regions))}
        written = write_report(
            self.hook.conn, self.report_bucket, key, plan, meta, counts, part_bytes=self.report_part_bytes
        )
        self.log.info(
            "Plan written to %s (%d bytes in %d part(s), ETag %s)",
            written.uri,
            written.bytes,
            written.parts,
            written.etag,
        )
        self._alert_halted(plan, context)
        return plan_xcom(plan, written, dry_run=dry_run, counts=counts)

    def _log_table(self, plan: Any, counts: dict[str, Any], dry_run: bool, actions: tuple[str, ...]) -> None:
        """The plan table in the task log, TABLE_LOG_ROWS lines per log record (never one huge string)."""
        lines = plan.table_lines(actions)
        first = True
        while chunk := list(islice(lines, TABLE_LOG_ROWS)):
            if first:
                self.log.info(
                    "Retention plan (%s; %d unmanaged/automated snapshots ignored, listed in the report):\n%s",
                    "dry run" if dry_run else "real run",
                    counts["ignore"],
                    "\n".join(chunk),
                )
                first = False
            else:
                self.log.info("Retention plan (continued):\n%s", "\n".join(chunk))

    def _alert_halted(self, plan: Any, context: Context) -> None:
        if not plan.halted:
            return
        from backstop.airflow.slack import context_line, header, post_message, section

        by_channel: dict[str, list[str]] = {}
        for g in plan.halted:
            line = f"• `{g.resource_id}` in {g.region} ({g.status}): {g.message}"
            self.log.warning("Pruning stopped: %s", line)
            channel = self.policy_channels.get(g.policy or "") or self.alert_channel
            by_channel.setdefault(channel, []).append(line)
        for channel, lines in sorted(by_channel.items()):
            text = f"Backstop retention: pruning stopped for {len(lines)} resource(s)"
            blocks = [
                header(":warning: " + text),
                section("\n".join(lines)),
                context_line(f"Run `{context.get('run_id')}`"),
            ]
            post_message(channel, text + ": " + "; ".join(lines)[:1000], blocks, self.slack_conn_id)


class RetentionApplyOperator(BackstopAwsOperator):
    """Delete what the plan decided, unless it is a dry run.

    The deletions are read from the plan's report in the report bucket, streamed and handled
    APPLY_CHUNK at a time; S3 serves only the object the plan task wrote (its ETag and version
    are in the plan's XCom). The snapshots are listed again (describe pages, one listing per
    region and kind, not a call per snapshot): each must still exist, carry
    `backstop:managed=true` and be `available`, otherwise it is skipped. A snapshot already gone
    counts as done.

    Deletes run on `max_workers` threads: one DeleteDBSnapshot / DeleteDBClusterSnapshot call
    per snapshot, exactly as many as one at a time; throttling is retried by botocore (the
    connection's `standard` retry mode). A delete that fails is logged and the others are still
    tried; then the task fails, naming what it could not delete (a retry re-reads the report,
    and what is already deleted counts as gone).

    :param plan: the RetentionPlanOperator's return value (a pointer to the report and counts).
    :param max_workers: deletes in flight at once (1 = one after another); at most the AWS
        client's connection pool (botocore's `max_pool_connections`, 10 unless configured).
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = aws_template_fields("plan")

    def __init__(self, *, plan: Any, max_workers: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = (self.botocore_config or {}).get("max_pool_connections", DEFAULT_MAX_POOL_CONNECTIONS)
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= pool:
            raise ValueError(
                f"max_workers must be a whole number from 1 to {pool} (the client's connection pool), "
                f"got {max_workers!r}"
            )
        self.plan = plan
        self.max_workers = max_workers

    @property
    def alert_resource(self) -> str:
        """What a failure alert names: the plan being applied (its size and report in S3)."""
        if not isinstance(self.plan, dict) or not self.plan.get("report"):
            return ""
        return f"{self.planned()} planned deletions, {self.plan['report']}"

    def report_client(self) -> Any:
        """An S3 client from the same connection, for reading the plan's report."""
        return make_hook(
            S3_HOOK,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        ).conn

    def deletions(self) -> Iterator[dict[str, Any]]:
        """The plan's deletions (region, db_type, snapshot_id, resource_id, reason), in plan order."""
        from backstop.retention.report import read_deletions

        if "deletions" in self.plan:  # a plan XCom from before the report pointer (a run across an upgrade)
            return iter(self.plan["deletions"])
        return read_deletions(
            self.report_client(),
            self.plan["report"],
            etag=self.plan.get("report_etag"),
            version_id=self.plan.get("report_version"),
        )

    def planned(self) -> int:
        counts = self.plan.get("counts") or {}
        if "delete" in counts:
            return int(counts["delete"])
        return len(self.plan.get("deletions") or ())

    def check_fresh(self) -> None:
        """Refuse a plan older than MAX_PLAN_AGE: since then new backups, copies and drills may
        have changed what min_keep, in-flight copies and restore-verified must keep."""
        made = self.plan.get("planned_at")
        age = datetime.now(UTC) - datetime.fromisoformat(made) if made else None
        if age is None or age > MAX_PLAN_AGE:
            shown = f"{age.total_seconds() / 3600:.1f} h old" if age is not None else "of unknown age"
            raise AirflowFailException(
                f"The retention plan {self.plan.get('report')} is {shown} (limit "
                f"{MAX_PLAN_AGE.total_seconds() / 3600:.0f} h); deleting by it could delete what is now "
                "needed. Clear plan_retention and apply_retention together to plan afresh."
            )

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.retention.report import ReportError

        planned = self.planned()
        if not self.plan["dry_run"]:
            self.check_fresh()
        report = self.plan.get("report")
        try:
            if self.plan["dry_run"]:
                sample = list(islice(self.deletions(), XCOM_NAMES_SAMPLE))
                self.log.info("Dry run: %d snapshot(s) would be deleted; nothing deleted", planned)
                return {
                    "dry_run": True,
                    "report": report,
                    "counts": {"would_delete": planned},
                    "deleted": [],
                    "already_gone": [],
                    "skipped": [],
                    "would_delete": sample,
                }
            tally = _Tally()
            pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="retention-delete")
            try:
                deletions = self.deletions()
                while chunk := list(islice(deletions, APPLY_CHUNK)):
                    if tally.read + len(chunk) > planned:
                        raise AirflowFailException(
                            f"The report {report} lists more than the {planned} deletion(s) the plan "
                            f"counted; stopped after {tally.read}, nothing more deleted"
                        )
                    tally.read += len(chunk)
                    self._apply(chunk, pool, tally)
            finally:
                # If the task is stopped (timeout, SIGTERM) mid-chunk, deletes not yet started never start.
                pool.shutdown(wait=True, cancel_futures=True)
        except ReportError as exc:
            raise AirflowFailException(f"Retention report unusable, nothing more deleted: {exc}") from exc
        except Exception as exc:
            if error_code(exc) in ("PreconditionFailed", "412"):
                raise AirflowFailException(
                    f"The report {report} changed after the plan task wrote it (ETag/version mismatch); "
                    "nothing deleted from it"
                ) from exc
            raise
        self.log.info(
            "Deleted %d, already gone %d, skipped %d, failed %d (of %d planned)",
            tally.counts["deleted"],
            tally.counts["already_gone"],
            tally.counts["skipped"],
            tally.counts["failed"],
            planned,
        )
        problems = tally.problems()
        if tally.read != planned:
            problems.insert(0, f"the report listed {tally.read} deletion(s) but the plan counted {planned}")
        if problems:
            raise AirflowException("Retention apply incomplete: " + "; ".join(problems))
        return {
            "dry_run": False,
            "report": report,
            "counts": {"planned": planned, **tally.counts},
            **tally.samples,
        }

    def _current(self, region: str, db_type: str) -> dict[str, tuple[bool, str]]:
        """snapshot id -> (managed, status) from one fresh listing per region and kind."""
        listings = self.__dict__.setdefault("_listings", {})
        if (region, db_type) not in listings:
            listing = list_snapshots(self.client(region), db_type, snapshot_type="manual")
            listings[region, db_type] = {
                info.snapshot_id: (is_managed(info.tags), info.status) for info in listing
            }
        return listings[region, db_type]

    def _apply(self, chunk: list[dict[str, Any]], pool: ThreadPoolExecutor, tally: _Tally) -> None:
        """Re-check a chunk against the listings (here), delete the rest (pool), record outcomes in order."""
        to_delete = []
        for item in chunk:
            name = item["snapshot_id"]
            state = self._current(item["region"], item["db_type"]).get(name)
            if state is None:
                tally.add("already_gone", name)
            elif not state[0] or state[1] != "available":
                self.log.warning("Skipping %s: managed=%s status=%s", name, state[0], state[1])
                tally.add("skipped", name)
            else:
                to_delete.append(item)
        # Clients are made here (self.client caches them), the pool's threads only call them.
        futures = [
            pool.submit(delete_snapshot, self.client(item["region"]), item["db_type"], item["snapshot_id"])
            for item in to_delete
        ]
        for item, future in zip(to_delete, futures, strict=True):
            name, region = item["snapshot_id"], item["region"]
            try:
                existed = future.result()
            except Exception as exc:
                why = f"{error_code(exc) or type(exc).__name__}: {exc}"
                self.log.error("Could not delete %s in %s: %s", name, region, why)
                tally.fail(name, region, error_code(exc) or type(exc).__name__, why)
                continue
            if existed:
                self.log.info("Deleted %s in %s (%s)", name, region, item["reason"])
                tally.add("deleted", name)
            else:
                tally.add("already_gone", name)


class _Tally:
    """Outcome counts, the first names of each outcome (for XCom) and the first failures."""

    def __init__(self) -> None:
        self.read = 0
        self.counts = {"deleted": 0, "already_gone": 0, "skipped": 0, "failed": 0}
        self.samples: dict[str, list[str]] = {"deleted": [], "already_gone": [], "skipped": []}
        self.failures: list[tuple[str, str, str]] = []  # (snapshot, region, error), the first few
        self.failure_codes: dict[str, int] = {}

    def add(self, outcome: str, name: str) -> None:
        self.counts[outcome] += 1
        if len(self.samples[outcome]) < XCOM_NAMES_SAMPLE:
            self.samples[outcome].append(name)

    def fail(self, name: str, region: str, code: str, why: str) -> None:
        self.counts["failed"] += 1
        self.failure_codes[code] = self.failure_codes.get(code, 0) + 1
        if len(self.failures) < FAILURES_NAMED:
            self.failures.append((name, region, why))

    def problems(self) -> list[str]:
        if not self.counts["failed"]:
            return []
        codes = ", ".join(f"{code} x{n}" for code, n in sorted(self.failure_codes.items()))
        named = "; ".join(f"{name} ({region}): {why}" for name, region, why in self.failures)
        more = self.counts["failed"] - len(self.failures)
        return [
            f"{self.counts['failed']} deletion(s) failed ({codes}), the others were done: {named}"
            + (f"; and {more} more (see the log)" if more else "")
        ]
