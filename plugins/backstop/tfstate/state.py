"""Terraform state files: validation, facts, checksums, manifests, and the checks between runs.

A state holds secrets (passwords, keys in resource attributes). Nothing here ever puts its
content in an exception, a log line or a return value other than the raw bytes: only the
facts below (serial, lineage, terraform_version, resource count, sha256, size).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

STATE_FORMAT_VERSION = 4
MANIFEST_FORMAT = 1

Decision = Literal["first", "changed", "unchanged", "rollback", "swapped"]


class InvalidStateError(ValueError):
    """The bytes are not a Terraform state of format version 4 (message never quotes the content)."""


class StateIntegrityError(Exception):
    """Base for the checks against the previous backup."""


@dataclass(frozen=True)
class StateFacts:
    """What Backstop may say about a state: no attribute values, only identity and size."""

    serial: int
    lineage: str
    terraform_version: str
    state_format_version: int
    resource_count: int
    sha256: str
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_state(data: bytes) -> StateFacts:
    """Validate a state (JSON, format version 4, serial and lineage present) and return its facts."""
    if not data:
        raise InvalidStateError("the state is empty (0 bytes)")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # Position only: the JSON error message would quote part of the document.
        raise InvalidStateError(
            f"the state is not valid JSON (error at byte {getattr(exc, 'pos', '?')})"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidStateError(f"the state is a JSON {type(doc).__name__}, expected an object")
    version = doc.get("version")
    if version != STATE_FORMAT_VERSION:
        raise InvalidStateError(
            f"state format version is {version!r}, expected {STATE_FORMAT_VERSION} (Terraform 0.12 or newer)"
        )
    serial = doc.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise InvalidStateError("the state has no valid 'serial' (a non-negative integer)")
    lineage = doc.get("lineage")
    if not isinstance(lineage, str) or not lineage:
        raise InvalidStateError("the state has no 'lineage'")
    resources = doc.get("resources", [])
    if not isinstance(resources, list):
        raise InvalidStateError("the state's 'resources' is not a list")
    count = sum(
        len(r.get("instances", [])) if isinstance(r, dict) and r.get("mode") == "managed" else 0
        for r in resources
    )
    return StateFacts(
        serial=serial,
        lineage=lineage,
        terraform_version=str(doc.get("terraform_version", "")),
        state_format_version=version,
        resource_count=count,
        sha256=sha256_hex(data),
        size_bytes=len(data),
    )


@dataclass(frozen=True)
class Check:
    """The result of comparing a state with the previous backup."""

    decision: Decision
    reason: str

    @property
    def writes_backup(self) -> bool:
        return self.decision in ("first", "changed")

    @property
    def alerts(self) -> bool:
        return self.decision in ("rollback", "swapped")


def compare(current: StateFacts, previous: dict[str, Any] | None) -> Check:
    """Compare a state with the previous backup's manifest.

    - no previous backup: "first" (write it);
    - other lineage: "swapped" (someone replaced the state with another one: alert);
    - lower serial: "rollback" (an older state was put back: alert);
    - same serial and lineage: "unchanged" if the bytes match (write nothing);
      same serial but other bytes is treated as "changed" (terraform should have raised the
      serial; keep the evidence rather than lose it);
    - higher serial: "changed" (write a new backup).
    """
    if previous is None:
        return Check("first", "no previous backup for this workspace")
    prev_serial = int(previous["serial"])
    prev_lineage = str(previous["lineage"])
    if current.lineage != prev_lineage:
        return Check(
            "swapped",
            f"state swapped: lineage {current.lineage} differs from the previous backup's {prev_lineage} "
            f"(serial {current.serial}, previous {prev_serial})",
        )
    if current.serial < prev_serial:
        return Check(
            "rollback",
            f"state rollback: serial {current.serial} is lower than the previous backup's {prev_serial} "
            f"(lineage {current.lineage})",
        )
    if current.serial == prev_serial:
        if current.sha256 == previous.get("sha256"):
            return Check(
                "unchanged", f"serial {current.serial} and lineage unchanged since the previous backup"
            )
        return Check(
            "changed",
            f"serial {current.serial} unchanged but the content differs from the previous backup (sha256)",
        )
    return Check("changed", f"serial {prev_serial} -> {current.serial}")


def build_manifest(
    facts: StateFacts,
    *,
    project: str,
    workspace: str,
    source: str,
    backed_up_at: str,
    run_id: str,
    state_key: str,
    state_version_id: str | None,
    vault_bucket: str,
    object_lock: dict[str, Any],
    kms_key_id: str | None,
) -> dict[str, Any]:
    """The manifest written next to each backup (JSON, no state content)."""
    return {
        "manifest_format": MANIFEST_FORMAT,
        "project": project,
        "workspace": workspace,
        "source": source,
        **facts.to_dict(),
        "backed_up_at": backed_up_at,
        "run_id": run_id,
        "vault_bucket": vault_bucket,
        "state_key": state_key,
        "state_version_id": state_version_id,
        "object_lock": object_lock,
        "kms_key_id": kms_key_id,
    }
