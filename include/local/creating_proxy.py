"""An HTTP proxy in front of the moto server that keeps new RDS snapshots "creating" for a while.

moto makes every snapshot `available` at once, so a deferrable wait never defers against it.
Real RDS takes minutes (copies: hours). This proxy forwards every request to moto unchanged
and rewrites one thing in the answers: in DescribeDBSnapshots / DescribeDBClusterSnapshots,
a snapshot first seen less than `creating_seconds` ago is reported as `creating` (with
`PercentProgress` 50). After that moto's own answer comes through. "First seen" is per
(region, snapshot identifier), the region taken from the request's SigV4 credential scope, so
a copy in the DR region waits on its own clock.

This is local-stack emulation of control-plane timing, opted into by pointing the Airflow
connection's `endpoint_url` at the proxy; Backstop's code is unchanged. `GET /_proxy/stats`
returns how many answers were rewritten (JSON).

CLI: ``python -m include.local.creating_proxy --upstream URL --creating 20 --port 0 --ready-file PATH``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_BLOCK = re.compile(rb"<(DBSnapshot|DBClusterSnapshot)>(.*?)</\1>", re.S)
_ID = re.compile(rb"<(?:DBSnapshotIdentifier|DBClusterSnapshotIdentifier)>([^<]*)<")
_STATUS = re.compile(rb"<Status>available</Status>")
_PROGRESS = re.compile(rb"<PercentProgress>\d+</PercentProgress>")
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class CreatingClock:
    """When each snapshot was first seen, and whether it should still look `creating`."""

    def __init__(self, creating_seconds: float, now=time.monotonic) -> None:
        self.creating_seconds = creating_seconds
        self._now = now
        self._first_seen: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()
        self.rewritten = 0
        self.answers = 0

    def rewrite(self, region: str, body: bytes) -> bytes:
        """The describe answer `body` with young snapshots' status set to `creating`."""
        now = self._now()

        def one(match: re.Match[bytes]) -> bytes:
            ident = _ID.search(match.group(2))
            if ident is None:
                return match.group(0)
            with self._lock:
                first = self._first_seen.setdefault((region, ident.group(1)), now)
            if now - first >= self.creating_seconds or not _STATUS.search(match.group(2)):
                return match.group(0)
            with self._lock:
                self.rewritten += 1
            inner = _STATUS.sub(b"<Status>creating</Status>", match.group(2), count=1)
            inner = _PROGRESS.sub(b"<PercentProgress>50</PercentProgress>", inner, count=1)
            tag = match.group(1)
            return b"<" + tag + b">" + inner + b"</" + tag + b">"

        with self._lock:
            self.answers += 1
        return _BLOCK.sub(one, body)

    def stats(self) -> dict[str, float]:
        with self._lock:
            return {
                "creating_seconds": self.creating_seconds,
                "snapshots_seen": len(self._first_seen),
                "describe_answers": self.answers,
                "rewritten": self.rewritten,
            }


def _is_snapshot_describe(body: bytes) -> bool:
    if b"Action=Describe" not in body:
        return False
    action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    return action in ("DescribeDBSnapshots", "DescribeDBClusterSnapshots")


def make_server(
    upstream: str, creating_seconds: float, host: str = "127.0.0.1", port: int = 0, now=time.monotonic
) -> ThreadingHTTPServer:
    target = urllib.parse.urlsplit(upstream)
    clock = CreatingClock(creating_seconds, now=now)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet: thousands of calls
            pass

        def _forward(self) -> None:
            if self.path == "/_proxy/stats":
                payload = json.dumps(clock.stats()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                resp_headers = resp.getheaders()
                status = resp.status
            finally:
                conn.close()
            if status == 200 and _is_snapshot_describe(body):
                match = _REGION.search(self.headers.get("Authorization", ""))
                data = clock.rewrite(match.group(1) if match else "", data)
            self.send_response(status)
            for key, value in resp_headers:
                if key.lower() not in _HOP_BY_HOP and key.lower() not in ("date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.clock = clock  # type: ignore[attr-defined]
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.local.creating_proxy")
    parser.add_argument("--upstream", required=True, help="the moto server, e.g. http://127.0.0.1:5000")
    parser.add_argument("--creating", type=float, default=20.0, help="seconds a new snapshot stays creating")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", help="write the bound port here once listening")
    args = parser.parse_args(argv)
    server = make_server(args.upstream, args.creating, args.host, args.port)
    if args.ready_file:
        tmp = Path(args.ready_file).with_suffix(".tmp")
        tmp.write_text(str(server.server_address[1]), encoding="utf-8")
        tmp.replace(args.ready_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


class CreatingProxy:
    """The proxy as a subprocess (its own process group), for tests and the bench."""

    def __init__(self, upstream: str, creating_seconds: float, log_dir: Path | str) -> None:
        self.upstream = upstream
        self.creating_seconds = creating_seconds
        self.log_dir = Path(log_dir)
        self.proc = None
        self.url = ""

    def __enter__(self) -> CreatingProxy:
        import subprocess
        import sys

        self.log_dir.mkdir(parents=True, exist_ok=True)
        ready = self.log_dir / "proxy.port"
        ready.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "include.local.creating_proxy", "--upstream", self.upstream]
        argv += ["--creating", str(self.creating_seconds), "--ready-file", str(ready)]
        with open(self.log_dir / "proxy.log", "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=Path(__file__).resolve().parents[2],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ready.exists():
                self.url = f"http://127.0.0.1:{int(ready.read_text())}"
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"creating proxy did not start; log {self.log_dir / 'proxy.log'}")

    def stats(self) -> dict[str, float]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/_proxy/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def __exit__(self, *exc: object) -> None:
        import contextlib
        import os
        import signal

        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
            self.proc = None
