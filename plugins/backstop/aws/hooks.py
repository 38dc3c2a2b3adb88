"""How Backstop reaches AWS: the amazon provider's hooks, imported only when a task runs.

Every client comes from a provider hook (`RdsHook`, `S3Hook`, ...), so the Airflow connection
decides credentials, region, `endpoint_url` and the botocore retry mode; nothing here
special-cases the emulator. Hook classes are named by dotted path and imported on first use:
importing a hook pulls in boto3 (about 0.4 s), which must not happen while DAG files parse.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
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
) -> Any:
    """A provider hook; the hook itself turns the `botocore_config` dict into a botocore Config."""
    if isinstance(hook_class, str):
        hook_class = import_hook_class(hook_class)
    return hook_class(aws_conn_id=aws_conn_id, region_name=region_name, verify=verify, config=botocore_config)


# -- one client per connection, shared within a process (the triggerer) ---------------------------

#: a shared hook is rebuilt after this many seconds, so a connection edited in Airflow (rotated
#: keys, a new endpoint) reaches new polls without a triggerer restart
SHARED_HOOK_MAX_AGE = 900.0

_shared_lock = threading.Lock()
_shared_hooks: dict[tuple[Any, ...], tuple[Any, float]] = {}
_build_locks: dict[tuple[Any, ...], threading.Lock] = {}


def shared_hook_key(
    hook_class: type | str,
    *,
    aws_conn_id: str | None,
    region_name: str | None,
    verify: bool | str | None = None,
    botocore_config: dict[str, Any] | None = None,
) -> tuple[Any, ...]:
    """What makes two clients interchangeable: connection, region, hook class, verify, botocore config."""
    path = hook_class if isinstance(hook_class, str) else f"{hook_class.__module__}.{hook_class.__qualname__}"
    config = json.dumps(botocore_config, sort_keys=True, default=repr) if botocore_config else None
    return (aws_conn_id, region_name or None, path, verify, config)


def shared_hook(
    hook_class: type | str,
    *,
    aws_conn_id: str | None,
    region_name: str | None,
    verify: bool | str | None = None,
    botocore_config: dict[str, Any] | None = None,
) -> Any:
    """A provider hook whose `conn` (the boto3 client) is built and shared within this process.

    Blocking on first use (it reads the connection and builds a session and a client: about
    0.1 s and 13 MB), so call it from a worker thread, never from an event loop. boto3 clients
    are thread-safe; sessions are not, so each session is used only while its client is built.
    One build per key at a time (a per-key lock); other keys build in parallel.
    """
    key = shared_hook_key(
        hook_class,
        aws_conn_id=aws_conn_id,
        region_name=region_name,
        verify=verify,
        botocore_config=botocore_config,
    )
    with _shared_lock:
        hook = _fresh(key)
        if hook is not None:
            return hook
        build_lock = _build_locks.setdefault(key, threading.Lock())
    with build_lock:
        with _shared_lock:
            hook = _fresh(key)
        if hook is None:
            hook = make_hook(
                hook_class,
                aws_conn_id=aws_conn_id,
                region_name=region_name,
                verify=verify,
                botocore_config=botocore_config,
            )
            hook.conn  # noqa: B018 - build the client here, under the build lock, not at first use
            with _shared_lock:
                _shared_hooks[key] = (hook, time.monotonic())
    return hook


def _fresh(key: tuple[Any, ...]) -> Any:
    entry = _shared_hooks.get(key)
    if entry is not None and time.monotonic() - entry[1] < SHARED_HOOK_MAX_AGE:
        return entry[0]
    return None


def clear_shared_hooks() -> int:
    """Forget every shared hook (tests; a connection known to have changed). Returns how many."""
    with _shared_lock:
        count = len(_shared_hooks)
        _shared_hooks.clear()
        _build_locks.clear()
    return count
