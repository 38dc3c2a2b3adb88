"""What the local stack adds to moto 5.2.5 for the backup account (emulation, local only).

moto keeps accounts apart and implements snapshot sharing (`ModifyDBSnapshotAttribute`,
`DescribeDBSnapshots(SnapshotType="shared")`), but `CopyDBSnapshot` / `CopyDBClusterSnapshot`
look the source ARN up in the CALLER's account only, so a shared snapshot of another account
cannot be copied (DBSnapshotNotFound). This module makes moto resolve a source ARN of another
account the way RDS does:

- the snapshot must be shared with the caller's account (its `restore` attribute holds the
  caller's id or "all"), otherwise it is "not found", as on AWS;
- if it is encrypted, the key's policy (in the source account) must name the caller's account
  (or a principal in it) in a statement allowing `kms:CreateGrant` / `kms:Decrypt` / `kms:*`,
  otherwise `KMSKeyNotAccessibleFault`, as on AWS when the key was not shared.

Installed by include/local/moto_emulation.install(). Nothing in plugins/backstop knows about it.
"""

from __future__ import annotations

import json
from typing import Any

_KEY_ACTIONS = {"kms:*", "kms:creategrant", "kms:decrypt", "*"}


def _key_shared_with(policy_text: str, account_id: str) -> bool:
    try:
        statements = json.loads(policy_text).get("Statement", [])
    except (TypeError, ValueError):
        return False
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not {a.lower() for a in actions} & _KEY_ACTIONS:
            continue
        principal = statement.get("Principal", {})
        names = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
        names = [names] if isinstance(names, str) else names
        if any(n == account_id or f":{account_id}:" in n for n in names):
            return True
    return False


def install() -> None:
    from moto.kms.models import kms_backends
    from moto.rds.exceptions import KMSKeyNotAccessibleFault
    from moto.rds.models import DBClusterSnapshot, RDSBackend
    from moto.rds.utils import split_arn

    original = RDSBackend.get_snapshot

    def get_snapshot(self: RDSBackend, identifier: str, resource_type: Any, not_found_exception: Any) -> Any:
        if not identifier.startswith("arn"):
            return original(self, identifier, resource_type, not_found_exception)
        region, account, _, name = split_arn(identifier)
        if account == self.account_id:
            return original(self, identifier, resource_type, not_found_exception)
        owner = self.get_backend("rds", region=region, account_id=account)
        snapshot = owner.resource_map[resource_type].get(name)
        restore = snapshot.attributes["restore"] if snapshot is not None else []
        if snapshot is None or not (self.account_id in restore or "all" in restore):
            raise not_found_exception(identifier)
        key = snapshot.kms_key_id if getattr(snapshot, "encrypted", False) else None
        if isinstance(snapshot, DBClusterSnapshot) and not snapshot.encrypted:
            key = None
        if key:
            key_id = key.split("/")[-1]
            source_key = kms_backends[account][region].keys.get(key_id)
            if source_key is None or not _key_shared_with(source_key.policy, self.account_id):
                raise KMSKeyNotAccessibleFault(key)
        return snapshot

    RDSBackend.get_snapshot = get_snapshot  # type: ignore[method-assign]
