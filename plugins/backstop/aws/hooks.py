"""How Backstop reaches AWS: the amazon provider's hooks, imported only when a task runs.

Every client comes from a provider hook (`RdsHook`, `S3Hook`, ...), so the Airflow connection
decides credentials, region, `endpoint_url` and the botocore retry mode; nothing here
special-cases the emulator. Hook classes are named by dotted path and imported on first use:
importing a hook pulls in boto3 (about 0.4 s), which must not happen while DAG files parse.

`shared_hook` is for the triggerer: one hook (and boto3 client) per connection, region, hook
class, `verify` and botocore config in the process, instead of one per deferred task.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

RDS_HOOK = "airflow.providers.amazon.aws.hooks.rds.RdsHook"
S3_HOOK = "airflow.providers.amazon.aws.hooks.s3.S3Hook"
GENERIC_HOOK = "airflow.providers.amazon.aws.hooks.base_aws.AwsGenericHook"

log = logging.getLogger(__name__)


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


# -- one client per connection, shared within a process (the triggerer) ---------------------------

#: how often (seconds) a shared client's Airflow connection is read again; a client is rebuilt
#: only when the connection changed (rotated keys, a new endpoint), so edits reach the triggerer
#: without a restart and an unchanged connection never pays for a rebuild
SHARED_HOOK_RECHECK = 60.0

_shared_lock = threading.Lock()
_shared_hooks: dict[tuple[Any, ...], _Shared] = {}
_build_locks: dict[tuple[Any, ...], threading.Lock] = {}


@dataclass
class _Shared:
    hook: Any
    fingerprint: str | None
    checked: float


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
    """A provider hook whose `conn` (the boto3 client) is built once and shared within this process.

    Blocking when it builds (it reads the connection and builds a session and a client: about
    0.1 s and 13 MB), so call it from a worker thread, never from an event loop. boto3 clients
    are thread-safe; a session is used only while its client is built. One build per key at a
    time; while one thread re-reads the connection, the others keep using the current client.
    """
    key = shared_hook_key(
        hook_class,
        aws_conn_id=aws_conn_id,
        region_name=region_name,
        verify=verify,
        botocore_config=botocore_config,
    )
    with _shared_lock:
        entry = _shared_hooks.get(key)
        build_lock = _build_locks.setdefault(key, threading.Lock())
    if entry is not None and time.monotonic() - entry.checked < SHARED_HOOK_RECHECK:
        return entry.hook
    if not build_lock.acquire(blocking=entry is None):
        return entry.hook  # another thread is re-reading the connection
    try:
        with _shared_lock:
            entry = _shared_hooks.get(key)
        if entry is not None and time.monotonic() - entry.checked < SHARED_HOOK_RECHECK:
            return entry.hook  # built or re-checked while we waited
        try:
            fingerprint = _connection_fingerprint(hook_class, aws_conn_id)
        except Exception:  # the connection could not be read now: keep what works, or let the hook say why
            if entry is not None:
                log.warning("Could not re-read connection %r; keeping its client", aws_conn_id, exc_info=True)
                entry.checked = time.monotonic()
                return entry.hook
            fingerprint = None
        if entry is not None and entry.fingerprint == fingerprint:
            entry.checked = time.monotonic()
            return entry.hook
        hook = make_hook(
            hook_class,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
        hook.conn  # noqa: B018 - build the client now, in this thread, not at first use
        with _shared_lock:
            _shared_hooks[key] = _Shared(hook, fingerprint, time.monotonic())
        return hook
    finally:
        build_lock.release()


def _connection_fingerprint(hook_class: type | str, aws_conn_id: str | None) -> str | None:
    """A digest of the Airflow connection (never the secrets themselves); None when there is none."""
    if not aws_conn_id:
        return None
    from airflow.sdk.exceptions import AirflowNotFoundException

    if isinstance(hook_class, str):
        hook_class = import_hook_class(hook_class)
    try:
        conn = hook_class.get_connection(aws_conn_id)
    except AirflowNotFoundException:
        return None
    fields = (conn.conn_type, conn.host, conn.login, conn.password, conn.schema, conn.port, conn.extra)
    return hashlib.sha256(repr(fields).encode()).hexdigest()


def clear_shared_hooks() -> int:
    """Forget every shared hook (tests, or a process that must drop its clients). Returns how many."""
    with _shared_lock:
        count = len(_shared_hooks)
        _shared_hooks.clear()
        _build_locks.clear()
    return count
