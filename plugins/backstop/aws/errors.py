"""AWS error codes Backstop decides on, read from botocore's ClientError without importing botocore."""

from __future__ import annotations


def error_code(exc: BaseException) -> str | None:
    """The `Error.Code` of a botocore ClientError, or None for any other exception."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None
