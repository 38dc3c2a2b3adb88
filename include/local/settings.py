"""Turn ``airflow_settings.yaml`` (Astro CLI format) into Airflow configuration.

The YAML is the single source for local connections, pools and variables.
``${VAR}`` and ``${VAR:-default}`` placeholders in string values are filled from
an environment mapping (usually the running local stack's endpoints); ``$${`` is a
literal ``${``. A placeholder without a default whose variable is unset is an
error that names the file and the key path.

CLI::

    python -m include.local.settings env --state .local/stack.json   # export lines
    python -m include.local.settings pools                           # airflow pools set ...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SETTINGS_PATH = REPO_ROOT / "airflow_settings.yaml"
DEFAULT_STATE_PATH = REPO_ROOT / ".local" / "stack.json"

ENV_AWS_ENDPOINT = "BACKSTOP_AWS_ENDPOINT_URL"
ENV_SLACK_BASE_URL = "BACKSTOP_SLACK_BASE_URL"

# Extra variables every local-stack process gets: stray boto3 clients that bypass
# the Airflow connection use dummy keys (so they can never reach a real account
# with someone's credentials) and skip the slow EC2 metadata probe.
LOCAL_SAFETY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "ap-northeast-2",
    "AWS_EC2_METADATA_DISABLED": "true",
}

_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SettingsError(ValueError):
    """Invalid settings file or unresolved placeholder."""


@dataclass(frozen=True)
class Connection:
    conn_id: str
    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_airflow_json(self) -> str:
        """The JSON form Airflow 3 accepts in ``AIRFLOW_CONN_<ID>``."""
        doc: dict[str, Any] = {"conn_type": self.conn_type}
        for key in ("host", "schema", "login", "password", "port"):
            value = getattr(self, key)
            if value not in (None, ""):
                doc[key] = value
        if self.extra:
            doc["extra"] = self.extra
        return json.dumps(doc, separators=(",", ":"))

    def __repr__(self) -> str:  # never show the password
        pw = "***" if self.password else None
        return f"Connection(conn_id={self.conn_id!r}, conn_type={self.conn_type!r}, password={pw})"


@dataclass(frozen=True)
class Pool:
    name: str
    slots: int
    description: str = ""
    # Deferred tasks count against the pool (Airflow's --include-deferred); needed where the
    # limit is on work in flight, e.g. cross-region copies waiting in the triggerer.
    include_deferred: bool = False


@dataclass(frozen=True)
class Settings:
    connections: list[Connection]
    pools: list[Pool]
    variables: dict[str, Any]
    source: str = ""

    def connection(self, conn_id: str) -> Connection:
        for conn in self.connections:
            if conn.conn_id == conn_id:
                return conn
        raise KeyError(conn_id)


# --- substitution ----------------------------------------------------------------


def substitute(value: str, environ: Mapping[str, str], *, where: str = "value") -> str:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in ``value`` (``$${`` stays literal)."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found not in (None, ""):
            return found
        if default is not None:
            return default
        raise SettingsError(f"{where}: environment variable {name} is not set and has no default")

    return _PLACEHOLDER.sub(repl, value)


def _expand(node: Any, environ: Mapping[str, str], source: str, path: str) -> Any:
    if isinstance(node, str):
        return substitute(node, environ, where=f"{source}: {path}")
    if isinstance(node, dict):
        return {k: _expand(v, environ, source, f"{path}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, environ, source, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


# --- loading ---------------------------------------------------------------------


def _require(item: dict[str, Any], key: str, source: str, path: str) -> Any:
    if item.get(key) in (None, ""):
        raise SettingsError(f"{source}: {path}.{key} is required")
    return item[key]


def load_settings(
    path: str | os.PathLike[str] = DEFAULT_SETTINGS_PATH,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Parse the Astro-format settings file, substituting placeholders from ``environ``."""
    environ = os.environ if environ is None else environ
    source = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("airflow", {}), dict):
        raise SettingsError(f"{source}: top level must be a mapping with an 'airflow' key")
    airflow = raw.get("airflow") or {}

    connections = []
    for i, item in enumerate(airflow.get("connections") or []):
        conn_id = item.get("conn_id") or str(i)
        where = f"airflow.connections[{conn_id}]"
        item = _expand(item, environ, source, where)
        extra = item.get("conn_extra") or {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except ValueError as exc:
                raise SettingsError(f"{source}: {where}.conn_extra is not JSON: {exc}") from exc
        port = item.get("conn_port")
        connections.append(
            Connection(
                conn_id=_require(item, "conn_id", source, where),
                conn_type=_require(item, "conn_type", source, where),
                host=item.get("conn_host") or None,
                schema=item.get("conn_schema") or None,
                login=item.get("conn_login") or None,
                password=item.get("conn_password") or None,
                port=int(port) if port not in (None, "") else None,
                extra=extra,
            )
        )

    pools = []
    for i, item in enumerate(airflow.get("pools") or []):
        where = f"airflow.pools[{item.get('pool_name') or i}]"
        item = _expand(item, environ, source, where)
        pools.append(
            Pool(
                name=_require(item, "pool_name", source, where),
                slots=int(_require(item, "pool_slot", source, where)),
                description=str(item.get("pool_description") or ""),
                include_deferred=bool(item.get("pool_include_deferred", False)),
            )
        )

    variables: dict[str, Any] = {}
    for i, item in enumerate(airflow.get("variables") or []):
        where = f"airflow.variables[{item.get('variable_name') or i}]"
        item = _expand(item, environ, source, where)
        variables[_require(item, "variable_name", source, where)] = item.get("variable_value")

    return Settings(connections=connections, pools=pools, variables=variables, source=source)


# --- outputs ---------------------------------------------------------------------


def _env_key(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def to_env(settings: Settings) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` (JSON form) and ``AIRFLOW_VAR_<NAME>`` variables."""
    env: dict[str, str] = {}
    for conn in settings.connections:
        env[f"AIRFLOW_CONN_{_env_key(conn.conn_id)}"] = conn.to_airflow_json()
    for name, value in settings.variables.items():
        env[f"AIRFLOW_VAR_{_env_key(name)}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def pool_commands(settings: Settings) -> list[list[str]]:
    """argv lists that create/update each pool with the Airflow CLI."""
    return [
        ["airflow", "pools", "set", pool.name, str(pool.slots), pool.description]
        + (["--include-deferred"] if pool.include_deferred else [])
        for pool in settings.pools
    ]


def read_state(state_path: str | os.PathLike[str] = DEFAULT_STATE_PATH) -> dict[str, Any]:
    path = Path(state_path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(
            f"{path}: no local stack state; start it with `python -m include.local.stack up`"
        ) from None


def stack_env(state: Mapping[str, Any]) -> dict[str, str]:
    """The BACKSTOP_* endpoint variables for a stack state document."""
    return {
        ENV_AWS_ENDPOINT: state["aws_endpoint_url"],
        ENV_SLACK_BASE_URL: state["slack_base_url"],
    }


def local_env(
    state: Mapping[str, Any],
    settings_path: str | os.PathLike[str] = DEFAULT_SETTINGS_PATH,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Everything a process needs to use a running local stack."""
    endpoints = stack_env(state)
    merged = {**(os.environ if environ is None else environ), **endpoints}
    return {**LOCAL_SAFETY_ENV, **endpoints, **to_env(load_settings(settings_path, merged))}


def airflow_home_env(
    home: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Where an Airflow process of the local stack keeps its state and finds the project.

    AIRFLOW_HOME in an ignored folder (nothing touches ~/airflow), the repository's dags/ and
    plugins/, no example DAGs, and the venv's bin/ first on PATH (`airflow standalone` spawns
    `airflow` subprocesses). Needs no running stack, so a process can set it before it
    imports Airflow (Airflow reads AIRFLOW_HOME once, on import).
    """
    bin_dir = str(Path(sys.executable).parent)
    path = (os.environ if environ is None else environ).get("PATH", "")
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
        "PATH": path if path.split(os.pathsep)[0] == bin_dir else f"{bin_dir}{os.pathsep}{path}",
    }


def airflow_env(
    stack_env: Mapping[str, str],
    home: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of an Airflow process that uses a running local stack.

    ``stack_env`` is ``LocalStack.env()`` (endpoints, dummy keys, AIRFLOW_CONN_* / AIRFLOW_VAR_*).
    """
    environ = os.environ if environ is None else environ
    return {**environ, **stack_env, **airflow_home_env(home, environ)}


def format_exports(env: Mapping[str, str]) -> str:
    """``export KEY='value'`` lines for ``eval`` (single quotes, escaped safely)."""
    return "\n".join(f"export {key}={_single_quote(value)}" for key, value in env.items())


def _single_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.local.settings")
    parser.add_argument("--settings", default=str(DEFAULT_SETTINGS_PATH))
    sub = parser.add_subparsers(dest="command", required=True)
    env_p = sub.add_parser("env", help="print export lines (eval-able)")
    env_p.add_argument("--state", default=str(DEFAULT_STATE_PATH))
    pools_p = sub.add_parser("pools", help="apply pools with `airflow pools set`")
    pools_p.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)

    try:
        if args.command == "env":
            print(format_exports(local_env(read_state(args.state), args.settings)))
            return 0
        # Pools carry no placeholders that need the stack; fall back to empty values.
        settings = load_settings(args.settings, _LenientEnv(os.environ))
        for argv_ in pool_commands(settings):
            print("+ " + shlex.join(argv_), file=sys.stderr)
            if not args.dry_run:
                subprocess.run(argv_, check=True, stdout=subprocess.DEVNULL)
        return 0
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {shlex.join(exc.cmd)} exited {exc.returncode}", file=sys.stderr)
        return exc.returncode or 1


class _LenientEnv(dict):
    """Environment view where unset variables read as a harmless placeholder."""

    def __init__(self, base: Mapping[str, str]) -> None:
        super().__init__(base)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key) or f"<unset:{key}>"


if __name__ == "__main__":
    raise SystemExit(main())
