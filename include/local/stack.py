"""Start and stop the local stack: the moto AWS emulator and the Slack recorder.

Both run as subprocesses on 127.0.0.1 with free ports, each in its own process
group (so ``stop()`` leaves nothing behind), logging to ``<state dir>/moto.log``
and ``<state dir>/slack.log``. A JSON state file (default ``.local/stack.json``)
records the endpoints and pids so other processes (``make``, ``airflow``) can use
or stop the stack.

Python::

    with LocalStack(seed=True) as stack:
        os.environ.update(stack.env())

CLI::

    python -m include.local.stack up [--seed] [--state PATH]
    python -m include.local.stack status|down|env [--state PATH]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.local import settings as local_settings

REPO_ROOT = local_settings.REPO_ROOT
DEFAULT_STATE_PATH = local_settings.DEFAULT_STATE_PATH
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class StackError(RuntimeError):
    """The local stack failed to start, or is not running."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _moto_command(port: int) -> list[str]:
    # moto_server plus what it lacks: failover and the ECS scheduler (include/local/emulation.py),
    # ElastiCache CopySnapshot (include/local/moto_emulation.py, installed by emulation.py)
    return [sys.executable, "-m", "include.local.emulation", "-H", HOST, "-p", str(port)]


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; reap it if it is ours.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def _terminate_group(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process group led by ``pid``; SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.05)


class LocalStack:
    """The moto server + Slack recorder, as subprocesses, plus a state file."""

    def __init__(
        self,
        state_path: str | os.PathLike[str] | None = None,
        *,
        seed: bool = False,
        settings_path: str | os.PathLike[str] = local_settings.DEFAULT_SETTINGS_PATH,
        startup_timeout: float = STARTUP_TIMEOUT,
        detach: bool = False,
    ) -> None:
        self.state_path = Path(state_path) if state_path else DEFAULT_STATE_PATH
        self.log_dir = self.state_path.parent
        self.seed = seed
        self.settings_path = Path(settings_path)
        self.startup_timeout = startup_timeout
        self.detach = detach
        self.state: dict[str, Any] | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- properties ---------------------------------------------------------------

    def _require_state(self) -> dict[str, Any]:
        if self.state is None:
            raise StackError("local stack is not started")
        return self.state

    @property
    def aws_endpoint_url(self) -> str:
        return self._require_state()["aws_endpoint_url"]

    @property
    def slack_base_url(self) -> str:
        return self._require_state()["slack_base_url"]

    @property
    def fleet(self) -> dict[str, Any] | None:
        return self._require_state().get("fleet")

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> LocalStack:
        if self.state is not None:
            return self
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            aws_url = self._start_moto()
            slack_url = self._start_recorder()
            state: dict[str, Any] = {
                "aws_endpoint_url": aws_url,
                "slack_base_url": slack_url,
                "pids": {name: proc.pid for name, proc in self._procs.items()},
                "logs": {
                    "moto": str(self.log_dir / "moto.log"),
                    "slack": str(self.log_dir / "slack.log"),
                },
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            if self.seed:
                from include.local.fleet import seed_fleet

                state["fleet"] = seed_fleet(aws_url)
        except BaseException:
            self._kill_procs()
            raise
        self.state = state
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)
        if not self.detach:
            atexit.register(self.stop)
        return self

    def _spawn(self, name: str, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(self.log_dir / log_name, "ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: killpg on stop, immune to ^C
                close_fds=True,
            )
        self._procs[name] = proc
        return proc

    def _wait(self, name: str, proc: subprocess.Popen[bytes], log: Path, ready) -> Any:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            result = ready()
            if result:
                return result
            if proc.poll() is not None:
                raise StackError(
                    f"{name} exited with code {proc.returncode} during startup; log {log}:\n{_tail(log)}"
                )
            time.sleep(0.1)
        raise StackError(
            f"{name} did not become ready within {self.startup_timeout:.0f}s; log {log}:\n{_tail(log)}"
        )

    def _start_moto(self) -> str:
        log = self.log_dir / "moto.log"
        last_error: StackError | None = None
        for _ in range(3):  # the free-port probe can race with another process
            port = _free_port()
            url = f"http://{HOST}:{port}"
            proc = self._spawn("moto", _moto_command(port), "moto.log")
            try:
                self._wait("moto_server", proc, log, lambda url=url: _http_ok(f"{url}/moto-api/config"))
                return url
            except StackError as exc:
                last_error = exc
                self._procs.pop("moto", None)
                _terminate_group(proc.pid)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1)
                if "Address already in use" not in str(exc):
                    raise
        assert last_error is not None
        raise last_error

    def _start_recorder(self) -> str:
        log = self.log_dir / "slack.log"
        ready_file = self.log_dir / "slack.port"
        ready_file.unlink(missing_ok=True)
        argv = [
            sys.executable,
            "-m",
            "include.local.slack_recorder",
            "--host",
            HOST,
            "--port",
            "0",
            "--ready-file",
            str(ready_file),
        ]
        proc = self._spawn("slack", argv, "slack.log")

        def ready() -> str | None:
            try:
                port = int(ready_file.read_text(encoding="utf-8").strip())
            except (OSError, ValueError):
                return None
            url = f"http://{HOST}:{port}/api/"
            return url if _http_ok(f"http://{HOST}:{port}/_recorder/health") else None

        return self._wait("slack recorder", proc, log, ready)

    def _kill_procs(self) -> None:
        for proc in self._procs.values():
            _terminate_group(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        self._procs.clear()

    def stop(self) -> None:
        """Terminate both servers (whole process groups) and remove the state file."""
        if self._procs:
            self._kill_procs()
        elif self.state is not None:
            for pid in self.state.get("pids", {}).values():
                _terminate_group(int(pid))
        (self.log_dir / "slack.port").unlink(missing_ok=True)
        if self.state is not None:
            with contextlib.suppress(FileNotFoundError):
                current = json.loads(self.state_path.read_text(encoding="utf-8"))
                if current.get("pids") == self.state.get("pids"):
                    self.state_path.unlink()
            self.state = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- attach / inspect ---------------------------------------------------------

    @classmethod
    def attach(cls, state_path: str | os.PathLike[str] | None = None) -> LocalStack:
        """A handle on a stack started elsewhere (from its state file)."""
        stack = cls(state_path, detach=True)
        stack.state = local_settings.read_state(stack.state_path)
        return stack

    def health(self) -> dict[str, bool]:
        state = self._require_state()
        pids = state.get("pids", {})
        slack_root = state["slack_base_url"].rsplit("/api/", 1)[0]
        return {
            "moto": _pid_alive(int(pids.get("moto", 0)) or -1)
            and _http_ok(f"{state['aws_endpoint_url']}/moto-api/config"),
            "slack": _pid_alive(int(pids.get("slack", 0)) or -1)
            and _http_ok(f"{slack_root}/_recorder/health"),
        }

    def env(self) -> dict[str, str]:
        """Environment variables a process needs to use this stack.

        BACKSTOP_AWS_ENDPOINT_URL / BACKSTOP_SLACK_BASE_URL, dummy AWS keys, and the
        AIRFLOW_CONN_* / AIRFLOW_VAR_* rendered from airflow_settings.yaml.
        """
        return local_settings.local_env(self._require_state(), self.settings_path)


# --- CLI -------------------------------------------------------------------------


def _summary(stack: LocalStack) -> str:
    state = stack._require_state()
    lines = [
        f"aws (moto)  {state['aws_endpoint_url']}  pid {state['pids'].get('moto')}",
        f"slack       {state['slack_base_url']}  pid {state['pids'].get('slack')}",
        f"state       {stack.state_path}",
        f"logs        {stack.log_dir}/moto.log, {stack.log_dir}/slack.log",
    ]
    if state.get("fleet"):
        from include.local.fleet import format_summary

        lines.append(format_summary(state["fleet"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.local.stack")
    parser.add_argument("--state", default=str(DEFAULT_STATE_PATH), help="state file path")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start in the background; return once ready")
    up.add_argument("--seed", action="store_true", help="seed the TriFlow fleet")
    up.add_argument("--state", default=argparse.SUPPRESS)
    for name, text in (
        ("down", "stop the stack"),
        ("status", "show endpoints and health (exit 1 if not healthy)"),
        ("env", "print export lines for eval"),
    ):
        sub.add_parser(name, help=text).add_argument("--state", default=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    state_path = Path(args.state)

    try:
        if args.command == "up":
            if state_path.exists():
                existing = LocalStack.attach(state_path)
                if all(existing.health().values()):
                    if args.seed and not existing.fleet:
                        from include.local.fleet import seed_fleet

                        existing.state["fleet"] = seed_fleet(existing.aws_endpoint_url)
                        state_path.write_text(json.dumps(existing.state, indent=2) + "\n")
                    print("local stack already running")
                    print(_summary(existing))
                    return 0
                existing.stop()  # stale: clean up leftovers before starting afresh
            stack = LocalStack(state_path, seed=args.seed, detach=True).start()
            print(_summary(stack))
            return 0

        if not state_path.exists():
            if args.command == "down":
                print("local stack is not running")
                return 0
            print(f"local stack is not running (no {state_path})", file=sys.stderr)
            return 1
        stack = LocalStack.attach(state_path)
        if args.command == "down":
            stack.stop()
            state_path.unlink(missing_ok=True)
            print("local stack stopped")
            return 0
        if args.command == "status":
            health = stack.health()
            print(_summary(stack))
            print("health      " + ", ".join(f"{k}={'up' if v else 'DOWN'}" for k, v in health.items()))
            return 0 if all(health.values()) else 1
        if args.command == "env":
            print(local_settings.format_exports(stack.env()))
            return 0
    except (StackError, local_settings.SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
