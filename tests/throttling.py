"""Inject AWS throttling into one botocore client (moto never throttles).

A `before-send` handler answers the first `times` calls of an operation with HTTP 400
`Throttling`, exactly what AWS sends; botocore's retry mode from the Airflow connection
(standard) must retry them. Returns the list of outcomes, for assertions.
"""

from __future__ import annotations

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


_THROTTLE_XML = (
    b'<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>'
    b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


def throttle(client, operation: str, times: int) -> list[str]:
    outcomes: list[str] = []

    def handler(request, **_):
        if len(outcomes) < times:
            outcomes.append("Throttling")
            return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _Raw(_THROTTLE_XML))
        outcomes.append("sent")
        return None

    client.meta.events.register(f"before-send.rds.{operation}", handler)
    return outcomes
