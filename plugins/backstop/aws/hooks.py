"""How Backstop reaches AWS: the amazon provider's hooks, imported only when a task runs.

Every client comes from a provider hook (`RdsHook`, `S3Hook`, ...), so the Airflow connection
decides credentials, region, `endpoint_url` and the botocore retry mode; nothing here
special-cases the emulator. Hook classes are named by dotted path and imported on first use:
importing a hook pulls in boto3 (about 0.4 s), which must not happen while DAG files parse.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

RDS_HOOK = "airflow.providers.amazon.aws.hooks.rds.RdsHook"
S3_HOOK = "airflow.providers.amazon.aws.hooks.s3.S3Hook"
GENERIC_HOOK = "airflow.providers.amazon.aws.hooks.base_aws.AwsGenericHook"


@cache
def import_hook_class(path: str) -> type:
    """The hook class at a dotted path (imported once per process)."""
    module_name, _, class_name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


class LazyHookClass:
    """A class attribute that is the provider hook class, imported when first read.

    `aws_hook_class = LazyHookClass(RDS_HOOK)` reads like the provider's
    `aws_hook_class = RdsHook` and gives the same class, without importing boto3 at parse time.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def __get__(self, instance: Any, owner: type | None = None) -> type:
        return import_hook_class(self.path)

    def __repr__(self) -> str:
        return f"LazyHookClass({self.path!r})"


def make_hook(
    hook_class: type | str,
    *,
    aws_conn_id: str | None,
    region_name: str | None,
    verify: bool | str | None = None,
    botocore_config: dict[str, Any] | None = None,
    **hook_kwargs: Any,
) -> Any:
    """A provider hook; the hook itself turns the `botocore_config` dict into a botocore Config.

    `hook_kwargs` go to the hook as they are, e.g. `client_type="kms"` for AwsGenericHook
    (services the provider has no hook for).
    """
    if isinstance(hook_class, str):
        hook_class = import_hook_class(hook_class)
    return hook_class(
        aws_conn_id=aws_conn_id, region_name=region_name, verify=verify, config=botocore_config, **hook_kwargs
    )
