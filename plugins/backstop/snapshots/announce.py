"""One asset event per snapshot run, naming the snapshots it made.

`rds_<tier>_snapshot` ends with `announce`, the teardown of `resolve_targets`: it runs once
every snapshot task has finished (whatever their states) and updates the
`backstop_rds_snapshots` asset, which schedules `rds_cross_region_copy`, with an extra that
lists each verified snapshot. A run where one database failed still announces the others (their
DR copies should not wait a week); a run where none succeeded announces nothing (skipped).
Being a teardown, it does not decide the run's state (Airflow judges the run by the snapshot
tasks before it): a failed snapshot still fails the run, and a failed announcement does not
fail a run whose snapshots are all made and verified. It still alerts in Slack like any task,
and nothing is lost: the copy DAG copies "the newest snapshot without a copy", so the next
announcement picks up what this one missed. (With `on_failure_fail_dagrun=True` Airflow would
judge the run by this task alone, and a failed database would no longer fail the run.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

#: the keys of each snapshot's XCom that go into the asset event's extra
EXTRA_KEYS = ("snapshot_id", "db_type", "source_id", "region", "arn", "adopted")


class AnnounceSnapshotsOperator(BaseOperator):
    """Emit the run's single asset event; `snapshots` is the mapped snapshot task's output.

    :param snapshots: the results of the snapshot tasks that succeeded (an XComArg).
    :param asset: the asset to update (also this task's only outlet).
    """

    template_fields: Sequence[str] = ("snapshots",)

    def __init__(self, *, snapshots: Any, asset: Any, **kwargs: Any) -> None:
        super().__init__(outlets=[asset], **kwargs)
        self.snapshots = snapshots
        self.asset = asset

    def execute(self, context: Context) -> dict[str, Any]:
        made = [{key: item.get(key) for key in EXTRA_KEYS} for item in (self.snapshots or []) if item]
        if not made:
            raise AirflowSkipException("No snapshot of this run succeeded: nothing to announce")
        extra = {"run_id": str(context["run_id"]), "snapshots": made}
        context["outlet_events"][self.asset].extra = extra
        self.log.info("Announcing %d snapshot(s): %s", len(made), ", ".join(s["snapshot_id"] for s in made))
        return extra
