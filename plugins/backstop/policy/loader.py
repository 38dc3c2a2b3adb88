"""Reading the policy file: YAML to typed models, and errors a person can act on.

`include/backup_policy.yaml` is read at DAG parse time (a local file, no network), validated
into `backstop.policy.model`, and handed to the DAG files. Anything wrong with it raises a
`PolicyError` that names the file, the key path, the bad value and what was expected, so
the DAG files fail import with a readable message in the UI and `make validate` prints the
same. Run `python -m backstop.policy validate [PATH]` to check a policy file by hand.
"""

from __future__ import annotations

import os
import re
import reprlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from backstop.policy.model import BackupPolicy

POLICY_ENV_VAR = "BACKSTOP_POLICY_FILE"
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_POLICY_PATH = REPO_ROOT / "include" / "backup_policy.yaml"
# libyaml's loader when PyYAML was built with it (about 10x faster on a large policy).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Bounds on what a policy file may be, so a hostile or broken one fails fast in bounded memory.
# A policy protecting 1,000 databases is about 60 KiB and 5,000 values.
MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 200_000  # counted with aliases expanded (a "billion laughs" file has 10^8)
MAX_DEPTH = 32
# How much of a bad value an error message shows.
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 60
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 4
_SHOWN.maxlevel = 2


class PolicyError(ValueError):
    """An invalid policy file; `problems` holds (key path, message) pairs."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [f"Invalid backup policy {self.path}:"]
        lines += [f"  - {where}: {what}" if where else f"  - {what}" for where, what in problems]
        super().__init__("\n".join(lines))


# --- loading -----------------------------------------------------------------------------


def policy_path(path: str | os.PathLike | None = None) -> Path:
    """The file to read: the argument, else $BACKSTOP_POLICY_FILE, else include/backup_policy.yaml."""
    chosen = path or os.environ.get(POLICY_ENV_VAR) or DEFAULT_POLICY_PATH
    return Path(chosen)


_KEY_PATH = re.compile(r"^[A-Za-z_][\w-]*(\[\d+\]|\.[\w-]+)*$")


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-")) or part in ("tagged-union",):
            continue
        elif part == "[key]":
            out += " (the key itself)"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return "unknown key (not part of the policy format; check the spelling)"
    if kind == "missing":
        return "required key is missing"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind.startswith(
        ("literal_", "int_", "bool_", "greater_", "less_", "too_short", "string_", "dict_", "list_")
    ):
        message = f"got {shown(value)}: {message}"
    return message[:400]


def parse_policy(data: Any, path: str | os.PathLike = "<policy>") -> BackupPolicy:
    """Validate already-loaded YAML data; raises PolicyError with every problem found."""
    if not isinstance(data, dict):
        raise PolicyError(path, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    _check_bounded(data, str(path))
    try:
        return BackupPolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where, what = _key_path(error["loc"]), _describe(error)
            for line in what.splitlines():
                # model-level checks say where as "key.path: message" (pydantic cannot locate them)
                head, sep, rest = line.partition(": ")
                if not where and sep and _KEY_PATH.match(head):
                    problems.append((head, rest))
                else:
                    problems.append((where, line))
        raise PolicyError(path, problems) from None


def shown(value: Any) -> str:
    """A value as an error message shows it: repr, cut short (it may be huge or hostile)."""
    return _SHOWN.repr(value)


def _check_bounded(data: Any, path: str) -> None:
    """Refuse data that expands past MAX_VALUES values or MAX_DEPTH levels (aliases followed).

    YAML aliases share one object, so loading a bomb is cheap; walking it (validation, error
    messages) is not. The walk stops at the first bound crossed.
    """
    budget = MAX_VALUES
    # (value, depth, the top-level key it sits under: what the message names)
    stack: list[tuple[Any, int, str]] = (
        [(v, 1, str(k)) for k, v in data.items()] if isinstance(data, dict) else []
    )
    while stack:
        node, depth, key = stack.pop()
        budget -= 1
        if budget < 0:
            raise PolicyError(
                path,
                [(key, f"expands to more than {MAX_VALUES:,} values (YAML aliases nested too deep?)")],
            )
        if depth > MAX_DEPTH:
            raise PolicyError(path, [(key, f"values are nested more than {MAX_DEPTH} levels deep")])
        if isinstance(node, dict):
            stack.extend((v, depth + 1, key) for item in node.items() for v in item)
        elif isinstance(node, list):
            stack.extend((v, depth + 1, key) for v in node)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> BackupPolicy:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PolicyError(path, [("", f"cannot read the policy file: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise PolicyError(path, [("", f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            path,
            [("", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}; save it as UTF-8")],
        ) from None
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(exc, "problem", None) or exc)[:200]
        raise PolicyError(path, [(where, f"not valid YAML: {problem}")]) from None
    return parse_policy(data, path)


def load_policy(path: str | os.PathLike | None = None) -> BackupPolicy:
    """Read and validate the policy (cached per file version, so re-parsing DAGs stays cheap)."""
    resolved = policy_path(path)
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError:
        raise PolicyError(
            resolved, [("", f"policy file not found (set {POLICY_ENV_VAR} to override)")]
        ) from None
    return _load_cached(str(resolved), mtime)
