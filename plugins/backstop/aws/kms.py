"""KMS lookups: which key an alias or key id names, to check what a copy was encrypted with.

Functions take a boto3 KMS client (from the provider's hook, see `backstop.aws.hooks`).
"""

from __future__ import annotations

from typing import Any


def key_arn(client: Any, key: str) -> str:
    """The ARN of the key that `key` (an id, ARN, alias name or alias ARN) names in the client's region."""
    return client.describe_key(KeyId=key)["KeyMetadata"]["Arn"]


def same_key(a: str | None, b: str | None) -> bool:
    """Whether two key ids/ARNs name the same key (RDS reports an ARN; a policy may give the id)."""
    if not a or not b:
        return False
    return a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]
