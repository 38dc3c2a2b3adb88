"""Every Backstop AWS operator class, found by importing the whole library, and a way to build one.

No boto3 and no provider import here: test_operator_parity.py also runs this module in a fresh
interpreter to prove that building operators leaves boto3 unimported.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "plugins" / "backstop"

#: the AWS arguments every operator is built with (none of them the defaults)
AWS_ARGS: dict[str, Any] = {
    "aws_conn_id": "parity_conn",
    "region_name": "eu-west-1",
    "verify": False,
    "botocore_config": {"retries": {"mode": "standard", "max_attempts": 4}},
}

#: required arguments checked when the operator is built (anything else gets a template string)
REQUIRED: dict[str, Any] = {
    "db_type": "instance",
    "step": "plan",
    "snapshot": {"db_type": "instance", "source_id": "db-1", "snapshot_id": "snap-1", "tags": {}},
    "destination_region": "eu-west-2",
}

#: operators that set `region_name` themselves, from another argument
REGION_FROM: dict[str, str] = {"RdsCrossRegionCopyOperator": "destination_region"}


# Modules imported only at run time, which load boto3 on purpose: the Celery workers' warm-up and
# a hook class (aws/elbv2_hook.py, named by path like the provider's hooks).
RUN_TIME_ONLY = frozenset({"worker_warmup", "elbv2_hook"})


def import_library() -> list[str]:
    """Import every module under plugins/backstop (its slices are namespace packages, so walk files)."""
    names = []
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        if parts[-1] in RUN_TIME_ONLY:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
        importlib.import_module(names[-1])
    return names


def operator_classes() -> list[type]:
    """BackstopAwsOperator and every subclass defined in the library, in a stable order."""
    import_library()
    from backstop.airflow.operators import BackstopAwsOperator

    found: dict[str, type] = {}
    todo = [BackstopAwsOperator]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("backstop."):
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        todo.extend(cls.__subclasses__())
    return [found[name] for name in sorted(found)]


def constructor_parameters(cls: type, stop: type) -> dict[str, inspect.Parameter]:
    """The keyword arguments `cls(...)` accepts, following `**kwargs` up the MRO until `stop`."""
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass is stop:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        signature = inspect.signature(init)
        for p in signature.parameters.values():
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                params.setdefault(p.name, p)
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            break
    return params


def build(cls: type) -> Any:
    """An instance of `cls` with AWS_ARGS and placeholder values for its other required arguments."""
    kwargs = {
        name: REQUIRED.get(name, "{{ params.%s }}" % name)  # noqa: UP031 - a Jinja template, not a format
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is p.empty and p.kind is p.KEYWORD_ONLY
    }
    aws = dict(AWS_ARGS)
    if cls.__name__ in REGION_FROM:
        aws.pop("region_name")
    return cls(task_id=f"parity_{cls.__name__.lower()}", **aws, **kwargs)


def expected_region(cls: type) -> str:
    return REQUIRED[REGION_FROM[cls.__name__]] if cls.__name__ in REGION_FROM else AWS_ARGS["region_name"]


if __name__ == "__main__":  # the subprocess check: build everything, report whether boto3 came in
    import json
    import sys

    built = [type(build(cls)).__name__ for cls in operator_classes()]
    heavy = sorted(m for m in ("boto3", "botocore", "aiobotocore") if m in sys.modules)
    print(json.dumps({"built": built, "heavy_modules": heavy}))
