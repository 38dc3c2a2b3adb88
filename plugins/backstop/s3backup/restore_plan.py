"""Which object versions to bring back to restore a prefix to a point in time (pure, no I/O).

For each key under the prefix, the version that was current at the point in time is the
newest version or delete marker last modified at or before it. Then:

- `restore`: that version exists and is no longer current (the key was deleted or overwritten
  since): it is copied over itself, becoming the current version again. Nothing is deleted:
  the versions written since stay in the history.
- `unchanged`: that version is still current.
- `newer-kept`: the key did not exist at the point in time (or was deleted then) but exists
  now. It is left alone: a restore brings back what was lost, it never removes work done since.
- `absent`: neither then nor now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

RESTORE, UNCHANGED, NEWER_KEPT, ABSENT = "restore", "unchanged", "newer-kept", "absent"


def plan_prefix_restore(versions: Iterable[Any], point_in_time: datetime) -> list[dict[str, Any]]:
    """One decision per key (sorted by key): action, reason, the version to restore, the current one.

    `versions` in S3's listing order (each key's versions newest first), as `list_versions` gives.
    """
    if point_in_time.tzinfo is None:
        raise ValueError("point_in_time must be time-zone aware")
    by_key: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for index, version in enumerate(versions):
        by_key[version.key].append((index, version))
    decisions = []
    for key in sorted(by_key):
        # Oldest first. LastModified has one-second resolution: S3 lists a key's versions newest
        # first, so within one second the one listed earlier is the newer (and the current one last).
        ordered = sorted(by_key[key], key=lambda item: (item[1].last_modified, item[1].is_latest, -item[0]))
        history = [v for _, v in ordered]
        current = next((v for v in history if v.is_latest), history[-1])
        then = [v for v in history if v.last_modified <= point_in_time]
        target = then[-1] if then else None
        entry: dict[str, Any] = {
            "key": key,
            "current_version_id": current.version_id,
            "current_is_delete_marker": current.delete_marker,
        }
        if target is None or target.delete_marker:
            if current.delete_marker:
                entry |= {"action": ABSENT, "reason": "absent at the point in time and now"}
            else:
                entry |= {
                    "action": NEWER_KEPT,
                    "reason": "created after the point in time: left alone",
                }
        elif target.version_id == current.version_id:
            entry |= {"action": UNCHANGED, "reason": "the version current then is still current"}
        else:
            why = "deleted" if current.delete_marker else "overwritten"
            entry |= {
                "action": RESTORE,
                "reason": f"{why} after the point in time (at {current.last_modified.isoformat()})",
                "version_id": target.version_id,
                "etag": target.etag,
                "size": target.size,
                "version_last_modified": target.last_modified.isoformat(),
            }
        decisions.append(entry)
    return decisions


def counts(decisions: list[dict[str, Any]]) -> dict[str, int]:
    result = dict.fromkeys((RESTORE, UNCHANGED, NEWER_KEPT, ABSENT), 0)
    for d in decisions:
        result[d["action"]] += 1
    return result
