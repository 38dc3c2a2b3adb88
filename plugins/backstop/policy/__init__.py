"""The backup policy: what Backstop protects, how often, and who hears about it.

model (the typed models), loader (YAML to models, PolicyError, the file's location), views
(what the DAG files need from it, computed once), `python -m backstop.policy validate`.
"""

from backstop.policy.fields import RDS_IDENTIFIER
from backstop.policy.loader import (
    DEFAULT_POLICY_PATH,
    POLICY_ENV_VAR,
    PolicyError,
    load_policy,
    parse_policy,
    policy_path,
)
from backstop.policy.model import BackupPolicy, Drill, SnapshotPolicy

__all__ = [
    "DEFAULT_POLICY_PATH",
    "POLICY_ENV_VAR",
    "RDS_IDENTIFIER",
    "BackupPolicy",
    "Drill",
    "PolicyError",
    "SnapshotPolicy",
    "load_policy",
    "parse_policy",
    "policy_path",
]
