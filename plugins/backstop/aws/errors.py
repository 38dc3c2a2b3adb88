"""AWS error codes Backstop decides on, read from botocore's ClientError without importing botocore.

`cannot_heal(exc)` says whether retrying can help: an AccessDenied, a validation error or a
missing resource will fail the same way in five minutes, so the task fails at once (one alert,
no 15 minutes of retries); throttling, 5xx and network errors are retried (botocore's
standard retry mode first, then the task's retries).
"""

from __future__ import annotations

# Errors no retry fixes: permissions, bad requests, a KMS key that cannot be used.
PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "AuthFailure",
        "ValidationError",
        "ValidationException",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "MissingParameter",
        "KMSKeyNotAccessibleFault",
        "InvalidKMSKeyFault",
        "NotFoundException",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchVersion",
        "SnapshotQuotaExceeded",
    }
)


def error_code(exc: BaseException) -> str | None:
    """The `Error.Code` of a botocore ClientError, or None for any other exception."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def cannot_heal(exc: BaseException) -> bool:
    """True for AWS errors a retry cannot fix (PERMANENT_CODES).

    RDS "not found" faults are not in the list: right after a create, RDS can briefly answer
    not-found (eventual consistency), which a retry does fix; operators decide those cases.
    """
    code = error_code(exc)
    return code in PERMANENT_CODES
