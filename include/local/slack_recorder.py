"""A local stand-in for the Slack Web API that records what it is sent.

Point ``slack_sdk.WebClient(token=..., base_url=recorder.url)`` at it. Implemented
methods: ``chat.postMessage`` and ``auth.test``; anything else answers
``{"ok": false, "error": "unknown_method"}`` (HTTP 200, like Slack).

Control API (for tests and the demo), outside ``/api/``:

- ``GET  /_recorder/messages``  recorded messages (JSON list)
- ``GET  /_recorder/stats``     ``{"attempts": n, "ratelimited": n, "failed": n}``
- ``POST /_recorder/reset``     clear messages, counters and fault modes
- ``POST /_recorder/fault``     ``{"mode": "ratelimit", "count": N}``: the next N
  ``chat.postMessage`` calls answer HTTP 429 + ``Retry-After: 1``;
  ``{"mode": "down"}``: every API call answers HTTP 503 until reset.

The bearer token is required but never recorded or logged.

CLI: ``python -m include.local.slack_recorder --port 0 --ready-file PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PREFIX = "/api/"
CONTROL_PREFIX = "/_recorder/"
RETRY_AFTER_SECONDS = 1


class _State:
    """Shared, lock-protected recorder state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.ratelimit_remaining = 0
        self.down = False
        self.attempts = 0
        self.ratelimited = 0
        self.failed = 0
        self._ts_counter = 0

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.ratelimit_remaining = 0
            self.down = False
            self.attempts = 0
            self.ratelimited = 0
            self.failed = 0

    def next_ts(self) -> str:
        # Slack ts values are "<epoch seconds>.<6 digits>" and unique per channel.
        self._ts_counter += 1
        return f"{int(time.time())}.{self._ts_counter:06d}"


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if "application/json" in content_type:
        data = json.loads(raw.decode("utf-8"))
        return data if isinstance(data, dict) else {}
    # application/x-www-form-urlencoded (slack-sdk uses it for most methods).
    return {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8")).items()}


def _parse_blocks(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, list) else None


class _Handler(BaseHTTPRequestHandler):
    server: _RecorderHTTPServer
    protocol_version = "HTTP/1.1"

    # Silence the default stderr access log (it would show paths only, but keep quiet).
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            sys.stderr.write(f"slack-recorder: {self.command} {self.path.split('?')[0]}\n")

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        state = self.server.state
        if path == CONTROL_PREFIX + "messages":
            with state.lock:
                self._send(200, list(state.messages))
        elif path == CONTROL_PREFIX + "stats":
            with state.lock:
                stats = {
                    "attempts": state.attempts,
                    "ratelimited": state.ratelimited,
                    "failed": state.failed,
                    "recorded": len(state.messages),
                    "down": state.down,
                    "ratelimit_remaining": state.ratelimit_remaining,
                }
            self._send(200, stats)
        elif path in ("/", CONTROL_PREFIX, CONTROL_PREFIX + "health"):
            self._send(200, {"ok": True, "service": "slack-recorder"})
        elif path.startswith(API_PREFIX):
            self._api(path[len(API_PREFIX) :], self._query_params())
        else:
            self._send(404, {"ok": False, "error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        raw = self._read_body()
        if path.startswith(CONTROL_PREFIX):
            self._control(path[len(CONTROL_PREFIX) :], raw)
            return
        if not path.startswith(API_PREFIX):
            self._send(404, {"ok": False, "error": "not_found"})
            return
        try:
            params = self._query_params()
            params.update(_parse_body(self.headers.get("Content-Type", ""), raw))
        except (ValueError, UnicodeDecodeError):
            self._send(200, {"ok": False, "error": "invalid_json"})
            return
        self._api(path[len(API_PREFIX) :], params)

    def _query_params(self) -> dict[str, Any]:
        query = urllib.parse.urlsplit(self.path).query
        return {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}

    def _control(self, action: str, raw: bytes) -> None:
        state = self.server.state
        if action == "reset":
            state.reset()
            self._send(200, {"ok": True})
            return
        if action == "fault":
            try:
                spec = json.loads(raw.decode("utf-8") or "{}")
            except ValueError:
                self._send(400, {"ok": False, "error": "invalid_json"})
                return
            mode = spec.get("mode")
            with state.lock:
                if mode == "ratelimit":
                    state.ratelimit_remaining = int(spec.get("count") or 1)
                elif mode == "down":
                    state.down = True
                elif mode in (None, "none", "clear"):
                    state.ratelimit_remaining = 0
                    state.down = False
                else:
                    self._send(400, {"ok": False, "error": f"unknown_mode:{mode}"})
                    return
            self._send(200, {"ok": True, "mode": mode})
            return
        self._send(404, {"ok": False, "error": "not_found"})

    def _token(self, params: dict[str, Any]) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer ") and auth[7:].strip():
            return auth[7:].strip()
        token = params.pop("token", None)  # legacy form field; accepted, never stored
        return token or None

    def _api(self, method: str, params: dict[str, Any]) -> None:
        state = self.server.state
        with state.lock:
            state.attempts += 1
            if state.down:
                state.failed += 1
                down = True
            else:
                down = False
        if down:
            self._send(503, {"ok": False, "error": "service_unavailable"})
            return
        token = self._token(params)
        if method == "auth.test":
            if not token:
                self._send(200, {"ok": False, "error": "not_authed"})
                return
            self._send(
                200,
                {
                    "ok": True,
                    "url": "https://backstop-local.slack.com/",
                    "team": "backstop-local",
                    "user": "backstop",
                    "team_id": "T0LOCAL",
                    "user_id": "U0LOCAL",
                    "bot_id": "B0LOCAL",
                },
            )
            return
        if method == "chat.postMessage":
            self._post_message(token, params)
            return
        self._send(200, {"ok": False, "error": "unknown_method"})

    def _post_message(self, token: str | None, params: dict[str, Any]) -> None:
        state = self.server.state
        if not token:
            self._send(200, {"ok": False, "error": "not_authed"})
            return
        with state.lock:
            if state.ratelimit_remaining > 0:
                state.ratelimit_remaining -= 1
                state.ratelimited += 1
                limited = True
            else:
                limited = False
        if limited:
            self._send(
                429,
                {"ok": False, "error": "ratelimited"},
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            return
        channel = params.get("channel")
        if not channel:
            self._send(200, {"ok": False, "error": "channel_not_found"})
            return
        text = params.get("text")
        blocks = _parse_blocks(params.get("blocks"))
        if not text and not blocks and not params.get("attachments"):
            self._send(200, {"ok": False, "error": "no_text"})
            return
        with state.lock:
            ts = state.next_ts()
            record = {
                "channel": channel,
                "text": text,
                "blocks": blocks,
                "thread_ts": params.get("thread_ts"),
                "ts": ts,
                "received_at": time.time(),
            }
            state.messages.append(record)
        message = {"type": "message", "user": "U0LOCAL", "bot_id": "B0LOCAL", "text": text or "", "ts": ts}
        if blocks is not None:
            message["blocks"] = blocks
        self._send(200, {"ok": True, "channel": channel, "ts": ts, "message": message})


class _RecorderHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], verbose: bool = False) -> None:
        super().__init__(address, _Handler)
        self.state = _State()
        self.verbose = verbose


class SlackRecorder:
    """In-process recorder: ``start()`` serves on 127.0.0.1 in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        self.host = host
        self._port = port
        self.verbose = verbose
        self._server: _RecorderHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SlackRecorder:
        if self._server is not None:
            return self
        self._server = _RecorderHTTPServer((self.host, self._port), verbose=self.verbose)
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SlackRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SlackRecorder is not started")
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def url(self) -> str:
        """Base URL for ``slack_sdk.WebClient(base_url=...)`` (ends in ``/api/``)."""
        return self.root_url + API_PREFIX.lstrip("/")

    @property
    def messages(self) -> list[dict[str, Any]]:
        if self._server is None:
            return []
        with self._server.state.lock:
            return list(self._server.state.messages)


class RecorderClient:
    """Control-API client (urllib only). ``base`` may be the root or the ``/api/`` URL."""

    def __init__(self, base: str, timeout: float = 5.0) -> None:
        root = base.rstrip("/")
        if root.endswith("/api"):
            root = root[: -len("/api")]
        self.root = root + "/"
        self.timeout = timeout

    def _call(self, method: str, action: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(
            self.root + CONTROL_PREFIX.lstrip("/") + action,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def messages(self) -> list[dict[str, Any]]:
        return self._call("GET", "messages")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def fault(self, mode: str, count: int | None = None) -> None:
        spec: dict[str, Any] = {"mode": mode}
        if count is not None:
            spec["count"] = count
        self._call("POST", "fault", spec)

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "health").get("ok"))
        except (urllib.error.URLError, OSError, ValueError):
            return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.local.slack_recorder", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ready-file", help="write the chosen port here once listening")
    parser.add_argument("--verbose", action="store_true", help="log method names (never bodies)")
    args = parser.parse_args(argv)

    server = _RecorderHTTPServer((args.host, args.port), verbose=args.verbose)
    port = server.server_address[1]
    if args.ready_file:
        tmp = f"{args.ready_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"{port}\n")
        os.replace(tmp, args.ready_file)  # atomic: readers never see a partial file
    print(f"slack-recorder listening on http://{args.host}:{port}/api/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
