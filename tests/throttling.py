"""Inject AWS error answers into one botocore client (moto never throttles or denies).

A `before-send` handler answers the first `times` calls of an operation with the HTTP error
AWS sends (`Throttling` by default); botocore's retry mode from the Airflow connection
(standard) must retry what is retryable. Returns the list of outcomes, for assertions.
"""

from __future__ import annotations

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


def _error_xml(code: str, message: str) -> bytes:
    return (
        '<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()


def answer_with_error(
    client,
    operation: str,
    times: int,
    code: str = "Throttling",
    status: int = 400,
    message: str = "Rate exceeded",
) -> list[str]:
    """The first `times` calls of an RDS `operation` on `client` get AWS's error answer `code`."""
    outcomes: list[str] = []

    def handler(request, **_):
        if len(outcomes) < times:
            outcomes.append(code)
            return AWSResponse(
                request.url, status, {"Content-Type": "text/xml"}, _Raw(_error_xml(code, message))
            )
        outcomes.append("sent")
        return None

    client.meta.events.register(f"before-send.rds.{operation}", handler)
    return outcomes


def throttle(client, operation: str, times: int) -> list[str]:
    return answer_with_error(client, operation, times)
