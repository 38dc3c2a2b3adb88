"""Which errors of the Terraform-state tasks are worth a retry, and which must fail at once.

Airflow retries a failed task (policy: 2 retries, 5 then 10 minutes) and alerts only after the
last try. For an error that cannot heal by itself that is pure delay: the alert comes 15
minutes late and says the same thing three times in the log. So, on the safe side:

- **permanent** (fail fast: AirflowFailException, no retries, one alert at once): every AWS
  error answered with a 4xx that is not in the lists below, e.g. AccessDenied,
  AllAccessDisabled, NoSuchBucket, NoSuchKey, NoSuchVersion, InvalidAccessKeyId, KMS errors;
  and Backstop's own "cannot heal" errors: a missing or mismatching backup (VaultError), a
  source without a state (SourceError), an invalid state (InvalidStateError);
- **transient** (left to Airflow's retries): throttling codes, any 5xx, S3's RequestTimeout,
  expired credentials (the next try builds a new session and gets fresh ones; an assumed-role
  session expiring mid-run heals), and network errors (botocore's connection/read errors,
  Python's ConnectionError/TimeoutError). botocore's own retry mode (standard, from the
  Airflow connection) has already retried these within the try;
- **unknown** (anything else, e.g. a terraform CLI failure or a bug): left to the normal
  retries, as before; this module does not guess.

The codes are kept here rather than imported from botocore's private retry tables; classifying
needs no botocore import (network errors are recognised by class name), so the DAG files can
import this module at parse time for free.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from airflow.sdk.exceptions import AirflowFailException

from backstop.aws.errors import error_code

Kind = Literal["transient", "permanent", "unknown"]

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
SERVER_CODES = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "ServiceFailure", "500", "502", "503", "504"}
)
TIMEOUT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException"})
EXPIRED_CREDENTIAL_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
TRANSIENT_CODES = THROTTLING_CODES | SERVER_CODES | TIMEOUT_CODES | EXPIRED_CREDENTIAL_CODES

# Access errors count as "unreachable" for the restore's DR fallback (an SCP denying a region
# during an incident, a regional IAM/KMS outage) but are permanent for retries.
ACCESS_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "AccessDeniedException"})

# botocore's network errors, by class name (any class in the exception's MRO).
_NETWORK_CLASSES = frozenset(
    {
        "ConnectionError",  # botocore.exceptions.ConnectionError and the builtin
        "HTTPClientError",  # ConnectionClosedError, ReadTimeoutError, ...
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ProxyConnectionError",
        "TimeoutError",
    }
)


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None


def is_network_error(exc: BaseException) -> bool:
    return any(cls.__name__ in _NETWORK_CLASSES for cls in type(exc).__mro__)


def classify(exc: BaseException) -> Kind:
    """ "transient" (retry), "permanent" (fail fast) or "unknown" (leave to the normal retries)."""
    code = error_code(exc)
    if code is not None:
        status = _status(exc)
        if code in TRANSIENT_CODES or (status is not None and status >= 500):
            return "transient"
        return "permanent"
    if is_network_error(exc):
        return "transient"
    from backstop.tfstate.sources import SourceError
    from backstop.tfstate.state import InvalidStateError
    from backstop.tfstate.vault import VaultError

    if isinstance(exc, VaultError | SourceError | InvalidStateError):
        return "permanent"
    return "unknown"


def unreachable(exc: BaseException) -> bool:
    """The vault could not be reached (network, 5xx, throttled to the end, access denied), as in
    a regional outage; a missing backup or a checksum mismatch is NOT that."""
    code = error_code(exc)
    if code in ACCESS_CODES:
        return True
    return classify(exc) == "transient"


class PermanentError(AirflowFailException):
    """An error that retrying will not heal (the original is the __cause__)."""


def describe(exc: BaseException) -> str:
    code = error_code(exc)
    if code is None:
        return f"{type(exc).__name__}: {exc}"
    operation = getattr(exc, "operation_name", None) or "?"
    message = (getattr(exc, "response", {}) or {}).get("Error", {}).get("Message") or ""
    return f"{code} on {operation}: {message}".rstrip(": ")


@contextmanager
def fail_fast(resource: str) -> Iterator[None]:
    """Run a step; permanent errors leave as PermanentError (no retries), the rest unchanged."""
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        if classify(exc) != "permanent":
            raise
        raise PermanentError(f"{resource}: {describe(exc)} (will not heal by retrying; not retried)") from exc
