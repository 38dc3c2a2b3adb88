"""Reading the policy file: YAML to typed models, and errors a person can act on.

`include/backup_policy.yaml` is read at DAG parse time (a local file, no network), validated
into `backstop.policy.model`, and handed to the DAG files. Anything wrong with it raises a
`PolicyError` that names the file, the key path, the bad value and what was expected, so
the DAG files fail import with a readable message in the UI and `make validate` prints the
same. Run `python -m backstop.policy validate [PATH]` to check a policy file by hand.
"""

from __future__ import annotations

import os
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
        message = f"got {value!r}: {message}"
    return message


def parse_policy(data: Any, path: str | os.PathLike = "<policy>") -> BackupPolicy:
    """Validate already-loaded YAML data; raises PolicyError with every problem found."""
    if not isinstance(data, dict):
        raise PolicyError(path, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        return BackupPolicy.model_validate(data)
    except ValidationError as exc:
        problems = [(_key_path(e["loc"]), _describe(e)) for e in exc.errors()]
        raise PolicyError(path, problems) from None


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> BackupPolicy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(path, [("", f"cannot read the policy file: {exc.strerror}")]) from None
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(path, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
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
