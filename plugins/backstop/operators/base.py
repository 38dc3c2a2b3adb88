"""The base class of Backstop's AWS operators.

It mirrors the amazon provider's `AwsBaseOperator` (same `aws_conn_id`, `region_name`,
`verify`, `botocore_config` parameters and template fields, a `hook` built from them) but
imports the provider only when the task runs. Subclassing `AwsBaseOperator` directly pulls
boto3 into every DAG parse (about 0.4 s measured, over the 0.3 s budget for the whole DAG
folder: see bench/parse.py). All AWS access still goes through the provider's hooks, so the
Airflow connection decides credentials, region, endpoint_url and botocore retry mode.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator


class BackstopAwsOperator(BaseOperator):
    """Base for operators that talk to AWS through an amazon-provider hook.

    :param aws_conn_id: Airflow connection with credentials, region and (for the local stack)
        endpoint_url. None uses boto3's default chain.
    :param region_name: AWS region; default is the connection's region.
    :param verify: SSL verification, as boto3 takes it.
    :param botocore_config: extra botocore Config keys, merged over the connection's.
    """

    #: dotted path of the provider hook class, imported at run time
    aws_hook_class_path: str = "airflow.providers.amazon.aws.hooks.base_aws.AwsGenericHook"
    #: extra keyword arguments for the hook (e.g. client_type)
    aws_hook_kwargs: dict[str, Any] = {}
    template_fields: Sequence[str] = ("aws_conn_id", "region_name", "verify", "botocore_config")

    def __init__(
        self,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    @cached_property
    def hook(self) -> Any:
        """The provider hook, created on first use (inside execute)."""
        return make_hook(
            self.aws_hook_class_path,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
            **self.aws_hook_kwargs,
        )


class DeferOrPollMixin:
    """One way to wait: look once; if still pending, defer to a trigger or poll in the worker.

    The operator provides `deferrable`, `poll_interval`, `max_attempts`; the trigger and the
    one-look function report ("success" | "failed" | "not_found" | "pending", message). When
    deferred, Airflow resumes the task in `execute_complete(context, event, **resume_kwargs)`.
    """

    deferrable: bool
    poll_interval: float
    max_attempts: int

    def wait_or_defer(
        self,
        poll: Callable[[], tuple[str, str]],
        trigger: Callable[[], Any],
        resume_kwargs: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """Returns the final (state, message) when waiting in the worker; never returns if deferred."""
        state, message = poll()
        if state == "pending" and self.deferrable:
            self.log.info("Deferring: %s", message)  # type: ignore[attr-defined]
            self.defer(  # type: ignore[attr-defined]
                trigger=trigger(),
                method_name="execute_complete",
                kwargs=resume_kwargs,
                timeout=timedelta(seconds=self.poll_interval * self.max_attempts + 300),
            )
        attempts = 1
        while state == "pending":
            if attempts >= self.max_attempts:
                return "timeout", f"gave up after {attempts} polls; last seen: {message}"
            self.log.info("Waiting (%d/%d): %s", attempts, self.max_attempts, message)  # type: ignore[attr-defined]
            time.sleep(self.poll_interval)
            state, message = poll()
            attempts += 1
        return state, message

    def trigger_connection(self) -> dict[str, Any]:
        """The connection arguments a trigger needs to build the same hook in the triggerer."""
        return {
            "aws_conn_id": self.aws_conn_id,  # type: ignore[attr-defined]
            "region_name": self.region_name,  # type: ignore[attr-defined]
            "verify": self.verify,  # type: ignore[attr-defined]
            "botocore_config": self.botocore_config,  # type: ignore[attr-defined]
            "poll_interval": self.poll_interval,
            "max_attempts": self.max_attempts,
        }


class RegionalClientsMixin:
    """boto3 clients for several regions from the operator's one connection, cached per region.

    For operators that read or act in more than one region (source and DR regions). Tests
    register botocore event handlers on `client(region)` to inject faults.
    """

    regional_hook_class_path: str = "airflow.providers.amazon.aws.hooks.rds.RdsHook"

    def client(self, region: str) -> Any:
        cache = self.__dict__.setdefault("_regional_clients", {})
        if region not in cache:
            cache[region] = make_hook(
                self.regional_hook_class_path,
                aws_conn_id=self.aws_conn_id,  # type: ignore[attr-defined]
                region_name=region,
                verify=self.verify,  # type: ignore[attr-defined]
                botocore_config=self.botocore_config,  # type: ignore[attr-defined]
            ).conn
        return cache[region]


def make_hook(
    hook_class_path: str,
    *,
    aws_conn_id: str | None,
    region_name: str | None,
    verify: bool | str | None = None,
    botocore_config: dict | None = None,
    **kwargs: Any,
) -> Any:
    """Build a provider hook by dotted path; shared by operators and triggers."""
    module_name, _, class_name = hook_class_path.rpartition(".")
    hook_class = getattr(importlib.import_module(module_name), class_name)
    config = None
    if botocore_config:
        from botocore.config import Config

        config = Config(**botocore_config)
    return hook_class(
        aws_conn_id=aws_conn_id, region_name=region_name, verify=verify, config=config, **kwargs
    )
