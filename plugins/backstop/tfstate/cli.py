"""Running the real `terraform` CLI safely.

- The binary is found on PATH (or `$BACKSTOP_TERRAFORM_BIN`); arguments are a list, never a shell.
- Every call runs with `TF_IN_AUTOMATION=1`, `TF_INPUT=0`, `CHECKPOINT_DISABLE=1` (no version
  check phoning home), its own CLI config file and plugin cache in a temporary folder, and (by
  default) a temporary `TF_DATA_DIR`, so the project folder stays clean.
- `state_pull` returns the state as bytes and never logs them: a state holds secrets. Errors
  carry only the first lines of terraform's stderr (which does not contain the state).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

TERRAFORM_BIN_ENV = "BACKSTOP_TERRAFORM_BIN"
DEFAULT_TIMEOUT = 300
_STDERR_LINES = 8


class TerraformCliError(RuntimeError):
    """terraform is missing or a command failed (message: command and stderr excerpt, never state)."""


def terraform_binary() -> str:
    """Path of the terraform executable, or TerraformCliError with how to install it."""
    chosen = os.environ.get(TERRAFORM_BIN_ENV) or shutil.which("terraform")
    if not chosen:
        raise TerraformCliError(
            "terraform is not on PATH; install Terraform 1.5 or newer "
            "(https://developer.hashicorp.com/terraform/install) or set " + TERRAFORM_BIN_ENV
        )
    return chosen


def _excerpt(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line and set(line) - set("│╷╵─ ")]
    return " | ".join(lines[:_STDERR_LINES])[:1500]


class Terraform:
    """One Terraform working directory (`-chdir`) with an isolated data dir and CLI config.

    :param project_dir: the folder with the .tf files.
    :param data_dir: TF_DATA_DIR to use; default: a fresh temporary folder (removed by `close`).
        Pass the project's own `.terraform` to use an already initialised working directory.
    :param env: extra environment (e.g. TF_VAR_* or AWS credentials for the backend).
    """

    def __init__(
        self,
        project_dir: str | os.PathLike,
        *,
        data_dir: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> None:
        self.project_dir = Path(project_dir).resolve()
        if not self.project_dir.is_dir():
            raise TerraformCliError(f"Terraform project folder {self.project_dir} does not exist")
        self.binary = terraform_binary()
        self._tmp = Path(tempfile.mkdtemp(prefix="backstop-tf-"))
        self.data_dir = Path(data_dir) if data_dir else self._tmp / "data"
        self.timeout = timeout
        cache = self._tmp / "plugin-cache"
        cache.mkdir()
        rc = self._tmp / "terraformrc"
        rc.write_text(f'disable_checkpoint = true\nplugin_cache_dir = "{cache}"\n')
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TF_")},
            **(env or {}),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_CLI_CONFIG_FILE": str(rc),
            "TF_DATA_DIR": str(self.data_dir),
        }

    # --- plumbing ------------------------------------------------------------------------

    def run(self, *args: str, workspace: str | None = None, sensitive_output: bool = False) -> bytes:
        """Run `terraform -chdir=<project> <args>`; returns stdout (not logged when sensitive)."""
        env = dict(self.env)
        if workspace and workspace != "default":
            env["TF_WORKSPACE"] = workspace
        cmd = [self.binary, f"-chdir={self.project_dir}", *args]
        shown = " ".join(["terraform", *args])
        log.info("Running %s%s", shown, f" (workspace {workspace})" if workspace else "")
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TerraformCliError(f"`{shown}` timed out after {self.timeout} s") from None
        if done.returncode != 0:
            raise TerraformCliError(f"`{shown}` failed (exit {done.returncode}): {_excerpt(done.stderr)}")
        if not sensitive_output and done.stdout:
            log.debug("%s: %s", shown, done.stdout.decode("utf-8", "replace")[-2000:])
        return done.stdout

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Terraform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands ------------------------------------------------------------------------

    def init(self, backend_config: Mapping[str, object] | None = None) -> None:
        """`terraform init -reconfigure`, with backend settings written to a -backend-config file."""
        args = ["init", "-input=false", "-reconfigure", "-no-color"]
        if backend_config:
            path = self._tmp / "backend.tfbackend"
            path.write_text(render_hcl(backend_config))
            path.chmod(0o600)
            args.append(f"-backend-config={path}")
        self.run(*args)

    def workspace_ensure(self, workspace: str) -> None:
        """Create the workspace if it does not exist yet (terraform selects it on creation)."""
        if workspace == "default":
            return
        existing = self.run("workspace", "list", "-no-color").decode()
        names = {line.strip(" *") for line in existing.splitlines() if line.strip()}
        if workspace not in names:
            self.run("workspace", "new", "-no-color", workspace)

    def apply(self, *, workspace: str = "default", variables: Mapping[str, str] | None = None) -> None:
        """`terraform apply -auto-approve`; variables go through TF_VAR_* (not the process list)."""
        env = {f"TF_VAR_{k}": v for k, v in (variables or {}).items()}
        saved = self.env
        self.env = {**self.env, **env}
        try:
            self.workspace_ensure(workspace)
            self.run("apply", "-auto-approve", "-input=false", "-no-color", workspace=workspace)
        finally:
            self.env = saved

    def state_pull(self, workspace: str = "default") -> bytes:
        """The workspace's state, exactly as the backend stores it. Never logged."""
        return self.run("state", "pull", workspace=workspace, sensitive_output=True)


def render_hcl(values: Mapping[str, object]) -> str:
    """Render flat key = value pairs (and one level of maps) as HCL for -backend-config files."""

    def scalar(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'

    lines = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            inner = ", ".join(f"{k} = {scalar(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {scalar(value)}")
    return "\n".join(lines) + "\n"
