"""State validation, the checks between runs, the vault key layout, the CLI helpers (no AWS)."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from backstop.tfstate.cli import Terraform, render_hcl
from backstop.tfstate.sources import backend_key, describe, pull_working_dir
from backstop.tfstate.state import InvalidStateError, compare, parse_state
from backstop.tfstate.vault import backup_keys, sha256_line

SECRET = "hunter2-do-not-log"


def state(serial=3, lineage="lin-a", version=4, secret=SECRET) -> bytes:
    doc = {
        "version": version,
        "terraform_version": "1.11.4",
        "serial": serial,
        "lineage": lineage,
        "outputs": {},
        "resources": [
            {
                "mode": "managed",
                "type": "terraform_data",
                "name": "db",
                "instances": [{"attributes": {"input": {"password": secret}}}],
            },
            {"mode": "data", "type": "x", "name": "y", "instances": [{}]},
        ],
    }
    return json.dumps(doc).encode()


def test_parse_state_facts():
    facts = parse_state(state())
    assert (facts.serial, facts.lineage, facts.resource_count, facts.state_format_version) == (
        3,
        "lin-a",
        1,
        4,
    )
    assert facts.terraform_version == "1.11.4"
    assert len(facts.sha256) == 64
    assert SECRET not in json.dumps(facts.to_dict())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b'{"password": "' + SECRET.encode() + b'" oops', "not valid JSON"),
        (state(version=3), "format version is 3"),
        (json.dumps({"version": 4, "lineage": "x"}).encode(), "serial"),
        (json.dumps({"version": 4, "serial": 1}).encode(), "lineage"),
        (b"[1, 2]", "JSON list"),
    ],
)
def test_invalid_states_are_refused_without_quoting_them(data, expected):
    with pytest.raises(InvalidStateError) as excinfo:
        parse_state(data)
    assert expected in str(excinfo.value)
    assert SECRET not in str(excinfo.value)


def test_compare_decisions():
    prev = {"serial": 3, "lineage": "lin-a", "sha256": parse_state(state()).sha256}
    assert compare(parse_state(state()), None).decision == "first"
    assert compare(parse_state(state()), prev).decision == "unchanged"
    assert compare(parse_state(state(serial=4)), prev).decision == "changed"
    same_serial_other_bytes = compare(parse_state(state(secret="other")), prev)
    assert same_serial_other_bytes.decision == "changed"  # keep the evidence
    rollback = compare(parse_state(state(serial=2)), prev)
    assert rollback.decision == "rollback" and rollback.reason.startswith("state rollback")
    swapped = compare(parse_state(state(serial=9, lineage="lin-b")), prev)
    assert swapped.decision == "swapped" and swapped.reason.startswith("state swapped")
    assert rollback.alerts and swapped.alerts and not compare(parse_state(state()), prev).alerts


def test_vault_layout_and_backend_keys():
    keys = backup_keys("terraform-state", "triflow-infra", "staging", date(2026, 11, 22))
    assert keys.state == "terraform-state/triflow-infra/staging/20261122/terraform.tfstate"
    assert keys.sha256.endswith("/20261122/terraform.tfstate.sha256")
    assert keys.manifest.endswith("/20261122/manifest.json")
    assert sha256_line("ab" * 32) == "ab" * 32 + "  terraform.tfstate\n"
    source = {"type": "s3_backend", "bucket": "b", "key": "infra/terraform.tfstate"}
    assert backend_key(source, "default") == "infra/terraform.tfstate"
    assert backend_key(source, "staging") == "env:/staging/infra/terraform.tfstate"
    assert describe(source, "staging") == "s3://b/env:/staging/infra/terraform.tfstate"


def test_render_hcl_for_backend_config():
    text = render_hcl({"bucket": "b", "use_path_style": True, "endpoints": {"s3": 'http://x"y'}})
    assert text == 'bucket = "b"\nuse_path_style = true\nendpoints = { s3 = "http://x\\"y" }\n'


@pytest.mark.skipif(shutil.which("terraform") is None, reason="the terraform CLI is not on PATH")
def test_working_dir_source_uses_state_pull_and_keeps_the_folder_clean(tmp_path):
    """A working directory with a local backend: `terraform state pull`, nothing printed or left."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "main.tf").write_text(
        'variable "pw" {\n  sensitive = true\n}\nresource "terraform_data" "x" {\n  input = var.pw\n}\n'
    )
    with Terraform(project) as tf:
        tf.init()
        tf.apply(variables={"pw": SECRET})
        data_dir = tf.data_dir
        assert not str(data_dir).startswith(str(project))
    assert sorted(p.name for p in project.iterdir()) == ["main.tf", "terraform.tfstate"]
    pulled = pull_working_dir({"type": "working_dir", "path": str(project)}, "default")
    facts = parse_state(pulled)
    assert facts.serial >= 1 and facts.resource_count == 1
    assert sorted(p.name for p in project.iterdir()) == ["main.tf", "terraform.tfstate"]
