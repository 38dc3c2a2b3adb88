"""The library is imported once, as `backstop`, even after Airflow's plugin manager has run.

Airflow imports every `.py` under plugins/ as a top-level module; plugins/.airflowignore
keeps it out of plugins/backstop/. Without it, `backstop/aws/rds_snapshots.py` would also be
`sys.modules["rds_snapshots"]`, a second copy with its own classes (isinstance and
except clauses stop matching) and 0.26 s of extra imports per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
from pathlib import Path
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
root = Path(sys.argv[1]).resolve()
seen = {}
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and Path(path).resolve().is_relative_to(root):
        seen.setdefault(str(Path(path).resolve().relative_to(root)), []).append(name)
print(json.dumps({"modules": seen, "errors": plugins_manager.get_import_errors()}))
"""


def _probe(plugins_folder: Path, tmp_path: Path) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "plugins" / "backstop")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plugin_manager_does_not_import_backstop_modules_a_second_time(tmp_path):
    # Import a few library modules first, as a DAG file would, then let the plugin manager run.
    result = _probe(ROOT / "plugins", tmp_path)
    assert result["errors"] == {}
    second_names = {
        path: names
        for path, names in result["modules"].items()
        if any(not n.startswith("backstop") for n in names)
    }
    assert second_names == {}


def test_the_guard_is_the_ignore_file(tmp_path):
    """Without plugins/.airflowignore, Airflow's plugin file finder would hand it every library module."""
    from airflow._shared.module_loading import find_path_from_directory

    def found(folder: Path) -> list[str]:
        files = find_path_from_directory(str(folder), ".airflowignore", "glob")
        return sorted(str(Path(f).relative_to(folder)) for f in files if f.endswith(".py"))

    assert [f for f in found(ROOT / "plugins") if f.startswith("backstop")] == []
    unguarded = tmp_path / "plugins"
    unguarded.mkdir()
    (unguarded / "backstop").symlink_to(ROOT / "plugins" / "backstop", target_is_directory=True)
    assert "backstop/naming.py" in found(unguarded)
