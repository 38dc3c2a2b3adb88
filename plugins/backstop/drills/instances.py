"""Drill instances: their names, the test for "a drill made this", and deleting them.

The only instances drills and the orphan sweeper delete carry `backstop:managed=true` AND
`backstop:drill=true`; a same-named instance without both is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from backstop.aws.rds_instances import delete_instance
from backstop.naming import DRILL_TAG, is_managed
from backstop.policy import RDS_IDENTIFIER


def drill_instance_name(source: str, day: date) -> str:
    """`<source>-drill-<YYYYMMDD>`: a retry or re-run of the same date finds the same instance."""
    name = f"{source}-drill-{day:%Y%m%d}"
    if not RDS_IDENTIFIER.match(name):
        raise AirflowFailException(
            f"drill instance name {name!r} is not a valid RDS instance identifier (at most 63 letters, "
            "digits and single hyphens); shorten the source identifier or rename the drill"
        )
    return name


def is_drill_instance(tags: Mapping[str, str]) -> bool:
    """Only these may be deleted by drills and the sweeper."""
    return is_managed(tags) and tags.get(DRILL_TAG) == "true"


def delete_drill_instance(client: Any, instance: dict[str, Any], log: Any) -> None:
    """Delete a managed drill instance: no final snapshot, automated backups too.

    Deletion protection is switched off first when it is on (drills restore with it off, but an
    instance restored by hand or by an emulator that copies the source's setting may have it).
    With a local data plane (emulation) the instance's database clone is dropped as well.
    """
    from backstop.drills import dataplane

    identifier = instance["DBInstanceIdentifier"]
    if instance.get("DeletionProtection"):
        log.info("Turning off deletion protection of %s (a managed drill instance)", identifier)
    if not delete_instance(client, instance):
        return  # already gone
    log.info("Deleting %s (skip final snapshot, delete automated backups)", identifier)
    try:
        dropped = dataplane.on_deleted(identifier, client.meta.region_name)
    except dataplane.DataPlaneUnreachable as exc:
        # The instance is gone (what the teardown promises); only the emulation's copy of its
        # data is left, and the next restore of this name replaces it. Not a failed teardown.
        log.warning(
            "Local data plane (emulation) unreachable, its clone stays until the next restore: %s", exc
        )
        return
    if dropped:
        log.info("Local data plane (emulation): dropped database %s", dropped)
