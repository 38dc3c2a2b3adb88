"""Issue "Trust", Terraform 1: a local restore writes only inside the restore root.

The form's `local_path` is typed by whoever triggers the DAG; the state it receives holds
secrets. Before this change an existing file anywhere (here: a file outside the project) was
overwritten with the state and the run succeeded, and a relative path landed in the worker's
current directory. Now every write is confined to `terraform_state.restore_root`: `..`,
absolute paths outside it, symlinks in any component below it and existing files are
refused (exclusive create, mode 0600), and the result and the log say where it wrote.

The trusted-config half: policy paths that could escape (`..`, absolute where relative is
meant) are refused at validation with the key named.
"""

from __future__ import annotations

import copy
import json
import os
import stat
from datetime import date
from pathlib import Path

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from backstop.policy import DEFAULT_POLICY_PATH, PolicyError, parse_policy
from tests.tfstate.conftest import PROJECT

PRECIOUS = b"do not overwrite me\n"


class FakeTI:
    """What the restore operator asks of its task instance: push the summary, pull the plan."""

    def __init__(self, planned: dict | None = None) -> None:
        self.pushed: dict = {}
        self.planned = planned

    def xcom_push(self, key, value):
        self.pushed[key] = value

    def xcom_pull(self, task_ids=None, key="return_value", **_):
        return self.planned


def restore_operator(tf_world, root: Path, step: str = "write", **kwargs):
    from backstop.tfstate.restore import TerraformStateRestoreOperator

    return TerraformStateRestoreOperator(
        task_id=f"{step}_local" if step == "write" else "plan",
        step=step,
        destination="local_path" if step == "write" else None,
        projects=[p.model_dump() for p in tf_world.policy.terraform_state.projects],
        vault=tf_world.vault,
        restore_root=str(root),
        aws_conn_id="aws_default",
        region_name="ap-northeast-2",
        **kwargs,
    )


def run_restore(tf_world, root: Path, step: str = "write", ti: FakeTI | None = None, **params):
    op = restore_operator(tf_world, root, step)
    context = {
        "run_id": "manual__2026-11-22T00:00:00+00:00",
        "ti": ti or FakeTI(),
        "params": {"project": PROJECT, "workspace": "default", "date": "latest", **params},
    }
    return op, op.execute(context)


def fake_state(serial: int = 1, secret: str = "pw-confine-secret") -> bytes:
    """A valid format-4 state holding a secret (no terraform run needed for these tests)."""
    resource = {
        "mode": "managed",
        "type": "terraform_data",
        "name": "db",
        "instances": [{"attributes": {"input": {"password": secret}}}],
    }
    doc = {"version": 4, "terraform_version": "1.11.4", "serial": serial, "lineage": "lin-confine"}
    return json.dumps({**doc, "outputs": {}, "resources": [resource]}).encode()


@pytest.fixture
def backed_up(tf_world):
    original = fake_state()
    tf_world.put_backend(original)
    tf_world.backup("default", date(2026, 11, 20))
    return original


def test_an_existing_file_outside_the_root_is_refused_and_left_untouched(tf_world, backed_up, tmp_path):
    victim = tmp_path / "outside" / "authorized_keys"
    victim.parent.mkdir()
    victim.write_bytes(PRECIOUS)
    root = tmp_path / "restore-root"

    with pytest.raises(AirflowFailException, match="outside the restore root"):
        run_restore(tf_world, root, local_path=str(victim))
    assert victim.read_bytes() == PRECIOUS


def _escape_via_symlinked_dir(root: Path, outside: Path) -> str:
    root.mkdir(parents=True, exist_ok=True)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    return "linked/state.tfstate"


def _escape_via_symlinked_file(root: Path, outside: Path) -> str:
    root.mkdir(parents=True, exist_ok=True)
    (root / "state.tfstate").symlink_to(outside / "victim")
    return "state.tfstate"


def _existing_file_inside(root: Path, outside: Path) -> str:
    (root / "old").mkdir(parents=True, exist_ok=True)
    (root / "old" / "state.tfstate").write_bytes(PRECIOUS)
    return str(root / "old" / "state.tfstate")


HOSTILE = [
    ("dot-dot relative", lambda root, out: "../escape.tfstate", r"'\.\.'"),
    ("dot-dot in the middle", lambda root, out: "a/../../escape.tfstate", r"'\.\.'"),
    ("dot-dot absolute", lambda root, out: f"{root}/../escape.tfstate", r"'\.\.'"),
    ("absolute outside", lambda root, out: str(out / "escape.tfstate"), "outside the restore root"),
    ("symlinked folder", _escape_via_symlinked_dir, "symlink"),
    ("symlinked file", _escape_via_symlinked_file, "symlink"),
    ("existing file inside", _existing_file_inside, "already exists"),
]


def test_hostile_local_paths_are_refused(tf_world, backed_up, tmp_path):
    """One backup, every hostile path in turn (each in its own fresh root and outside folder)."""
    for i, (label, make_path, message) in enumerate(HOSTILE):
        root, outside = tmp_path / f"case{i}" / "restore-root", tmp_path / f"case{i}" / "outside"
        outside.mkdir(parents=True)
        (outside / "victim").write_bytes(PRECIOUS)
        local_path = make_path(root, outside)
        before = _files(tmp_path)

        with pytest.raises(AirflowFailException, match=message):
            run_restore(tf_world, root, local_path=local_path)

        after = _files(tmp_path)
        assert after == before, f"{label}: a file was written or changed"
        assert backed_up not in b"".join(after.values()), label


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def test_plan_refuses_a_hostile_path_before_anything_is_written(tf_world, backed_up, tmp_path):
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match=r"'\.\.'"):
        run_restore(tf_world, tmp_path / "root", step="plan", ti=ti, local_path="../x.tfstate")
    assert ti.pushed == {}


def test_relative_paths_land_under_the_root_not_the_working_directory(
    tf_world, backed_up, tmp_path, monkeypatch, capsys
):
    cwd = tmp_path / "worker-cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = tmp_path / "restore-root"

    op, result = run_restore(tf_world, root, local_path="inspect/state.tfstate")

    target = root / "inspect" / "state.tfstate"
    assert target.read_bytes() == backed_up
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert list(cwd.iterdir()) == []
    assert result["target"] == str(target) and result["restore_root"] == str(root)
    logged = capsys.readouterr().out  # the operator's log (structlog, to stdout outside a task runner)
    assert f"to {target}" in logged and "below the restore root" in logged
    assert "pw-confine-secret" not in json.dumps(result) + logged


def test_the_default_file_is_new_per_run_and_under_the_root(tf_world, backed_up, tmp_path):
    root = tmp_path / "restore-root"
    _, result = run_restore(tf_world, root, local_path="")
    target = Path(result["target"])
    assert target.is_relative_to(root / PROJECT / "default")
    assert target.read_bytes() == backed_up
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / PROJECT).stat().st_mode) == 0o700
    # The same run again would need the same name: refused, not overwritten.
    with pytest.raises(AirflowFailException, match="already exists"):
        run_restore(tf_world, root, local_path="")


def test_the_default_restore_root_is_private_to_the_airflow_home(monkeypatch, tmp_path):
    from backstop.tfstate.localfile import default_restore_root

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow-home"))
    assert default_restore_root() == tmp_path / "airflow-home" / "backstop-restore"


def test_the_policy_restore_root_reaches_the_restore_dag(tmp_path, monkeypatch):
    from tests.dag_loading import load_dag, shipped_policy

    policy = shipped_policy()
    policy["terraform_state"]["restore_root"] = str(tmp_path / "restores")
    dag = load_dag("terraform_state_restore.py", "terraform_state_restore", policy, tmp_path, monkeypatch)
    assert {
        t.task_id: getattr(t, "restore_root", None) for t in dag.tasks if t.task_id.startswith("write")
    } == {
        "write_local": str(tmp_path / "restores"),
        "write_backend": str(tmp_path / "restores"),
    }
    assert dag.params["workspace"] is not None


# --- trusted configuration -----------------------------------------------------------------

SHIPPED = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def _working_dir(path="include/terraform/demo", workspaces=("default",)) -> dict:
    return {"name": "demo", "source": {"type": "working_dir", "path": path, "workspaces": list(workspaces)}}


def _with(change) -> dict:
    data = copy.deepcopy(SHIPPED)
    change(data["terraform_state"])
    return data


BAD_PATHS = [
    (
        "prefix with ..",
        lambda t: t["vault"].update(prefix="terraform-state/../reports"),
        "terraform_state.vault.prefix",
    ),
    ("prefix is ..", lambda t: t["vault"].update(prefix=".."), "terraform_state.vault.prefix"),
    (
        "working_dir with ..",
        lambda t: t["projects"].append(_working_dir("include/../../etc")),
        "terraform_state.projects[1].source.working_dir.path",
    ),
    (
        "absolute working_dir",
        lambda t: t["projects"].append(_working_dir("/etc/terraform")),
        "terraform_state.projects[1].source.working_dir.path",
    ),
    (
        "workspace with ..",
        lambda t: t["projects"].append(_working_dir(workspaces=["default", "../prod"])),
        "terraform_state.projects[1].source.working_dir.workspaces[1]",
    ),
    (
        "workspace is ..",
        lambda t: t["projects"].append(_working_dir(workspaces=[".."])),
        "terraform_state.projects[1].source.working_dir.workspaces[0]",
    ),
    ("relative restore_root", lambda t: t.update(restore_root="restores"), "terraform_state.restore_root"),
    ("restore_root with ..", lambda t: t.update(restore_root="/srv/../etc"), "terraform_state.restore_root"),
]


@pytest.mark.parametrize(("label", "change", "key"), BAD_PATHS, ids=[b[0] for b in BAD_PATHS])
def test_policy_paths_that_could_escape_are_refused_naming_the_key(label, change, key):
    with pytest.raises(PolicyError) as caught:
        parse_policy(_with(change), "policy.yaml")
    assert key in dict(caught.value.problems), str(caught.value)


def test_safe_policy_paths_are_accepted():
    policy = parse_policy(
        _with(
            lambda t: (
                t.update(restore_root="/var/lib/backstop/restores"),
                t["projects"].append(_working_dir(workspaces=["default", "staging-2", "eu_west.v2"])),
            )
        )
    )
    assert policy.terraform_state.restore_root == "/var/lib/backstop/restores"
    assert policy.terraform_state.restore_root is not None and os.path.isabs(
        policy.terraform_state.restore_root
    )


def test_unsafe_workspace_names_never_reach_a_vault_key():
    from backstop.tfstate.vault import UnsafeNameError, backup_keys

    for bad in ("..", "../prod", "a/b", "", "/abs"):
        with pytest.raises(UnsafeNameError):
            backup_keys("terraform-state", PROJECT, bad, date(2026, 11, 22))
