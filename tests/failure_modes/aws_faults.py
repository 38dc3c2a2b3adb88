"""A fault proxy in front of the moto server: AWS as it looks on a bad night, over real HTTP.

moto never throttles, never drops a connection and never goes away and comes back with its
state intact. This proxy sits between Airflow's AWS connection and the emulator, forwards
every request, and on command fails the ones it is told to, the way a real endpoint fails:

- ``outage(after={"DeleteDBSnapshot": 3})``: once three DeleteDBSnapshot calls have gone
  through, every request is answered by closing the connection without a response (what a
  client sees when the endpoint dies: botocore raises ConnectionClosedError);
- ``throttle("DeleteDBSnapshot", times=6)``: the next six such calls get AWS's 400
  ``Throttling`` answer;
- ``heal()``: forward everything again (the emulator "comes back" with its state, which is
  what AWS does after an outage).

The operation is read from the request as AWS protocols carry it: ``Action=`` in a query
protocol body (RDS), ``X-Amz-Target`` for JSON protocols; S3 requests count as ``S3``.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}

_THROTTLING = (
    b'<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>'
    b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


def operation_of(headers, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    if body[:7] == b"Action=" or b"&Action=" in body:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return "S3"


class AwsFaultProxy:
    """Forwards to `upstream` (the moto server URL); `url` is what the AWS connection should use."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port)
        self._lock = threading.Lock()
        self.forwarded: Counter[str] = Counter()  # operation -> calls that reached the emulator
        self.failed: Counter[str] = Counter()  # operation -> calls the proxy failed
        self._down = False
        self._outage_after: dict[str, int] = {}
        self._throttle: dict[str, int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> AwsFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- faults ---------------------------------------------------------------------

    def outage(self, after: dict[str, int] | None = None) -> None:
        """Go down now, or once each named operation has been forwarded `n` times."""
        with self._lock:
            if after:
                self._outage_after = dict(after)
            else:
                self._down = True

    def throttle(self, operation: str, times: int) -> None:
        with self._lock:
            self._throttle[operation] = times

    def heal(self) -> None:
        with self._lock:
            self._down, self._outage_after, self._throttle = False, {}, {}

    @property
    def down(self) -> bool:
        return self._down

    def _decide(self, operation: str) -> str:
        """'forward', 'drop' or 'throttle' for one request (counts it)."""
        with self._lock:
            if self._down:
                self.failed[operation] += 1
                return "drop"
            if self._throttle.get(operation, 0) > 0:
                self._throttle[operation] -= 1
                self.failed[operation] += 1
                return "throttle"
            self.forwarded[operation] += 1
            limit = self._outage_after.get(operation)
            if limit is not None and self.forwarded[operation] >= limit:
                self._down, self._outage_after = True, {}  # this call still goes through
            return "forward"

    # --- HTTP -----------------------------------------------------------------------

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                decision = proxy._decide(operation_of(self.headers, body))
                if decision == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if decision == "throttle":
                    self.send_response(400)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(_THROTTLING)))
                    self.end_headers()
                    self.wfile.write(_THROTTLING)
                    return
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        return Handler
