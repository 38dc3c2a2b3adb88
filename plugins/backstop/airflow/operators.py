"""The base classes of Backstop's AWS operators, in the amazon provider's shape.

`BackstopAwsOperator` has `AwsBaseOperator`'s parameters (`aws_conn_id`, `region_name`,
`verify`, `botocore_config`), its template fields (`aws_template_fields`) and its hook
(`aws_hook_class`, `_hook_parameters`, a cached `hook`); a test holds the two in parity. The
one difference: `aws_hook_class` is imported when first read, not when the DAG file is parsed
(subclassing `AwsBaseOperator` pulls boto3 into every parse, about 0.4 s; see bench/parse.py).

AWS errors that no retry can fix (AccessDenied, validation errors, missing resources: see
`backstop.aws.errors.cannot_heal`) fail the task at once, without its retries: every
subclass's `execute` and `execute_complete` are wrapped once, here, so no operator has to
remember it.

`DeferrableAwsOperator` adds the provider's waiter parameters (`deferrable`, `waiter_delay`,
`waiter_max_attempts`) and one way to wait: look once, then defer to a trigger or poll here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cache, cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from backstop.aws.errors import cannot_heal, error_code
from backstop.aws.hooks import GENERIC_HOOK, LazyHookClass, make_hook


def _failing_fast(method: Callable[..., Any]) -> Callable[..., Any]:
    """Re-raise an AWS error that cannot heal as AirflowFailException (no retries), cause kept."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except AirflowFailException:
            raise
        except Exception as exc:
            if not cannot_heal(exc):
                raise
            raise AirflowFailException(
                f"{type(exc).__name__} ({error_code(exc)}) will not heal by retrying: {exc}"
            ) from exc

    run.__backstop_fail_fast__ = True  # type: ignore[attr-defined]
    return run


@cache
def aws_template_fields(*template_fields: str) -> tuple[str, ...]:
    """The provider's rule: the generic AWS fields plus the operator's own, sorted."""
    return tuple(sorted({"aws_conn_id", "region_name", "verify"} | set(template_fields)))


class BackstopAwsOperator(BaseOperator):
    """Base for operators that talk to AWS through an amazon-provider hook.

    :param aws_conn_id: Airflow connection with credentials, region and (for the local stack)
        endpoint_url. None uses boto3's default chain.
    :param region_name: AWS region; default is the connection's region.
    :param verify: SSL verification, as boto3 takes it.
    :param botocore_config: botocore Config keys (a dict), merged over the connection's.
    """

    #: the provider hook class (imported on first read)
    aws_hook_class: Any = LazyHookClass(GENERIC_HOOK)
    #: the hook class behind `client(region)`; None means `aws_hook_class`
    regional_hook_class: Any = None
    regional_hook_kwargs: dict[str, Any] = {}  # e.g. {"client_type": "dynamodb"} for the generic hook
    template_fields: Sequence[str] = aws_template_fields()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("execute", "execute_complete"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__backstop_fail_fast__", False):
                setattr(cls, name, _failing_fast(method))

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

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
            "verify": self.verify,
            "config": self.botocore_config,
        }

    @cached_property
    def hook(self) -> Any:
        """The provider hook, created on first use (inside execute)."""
        return self.aws_hook_class(**self._hook_parameters)

    def client(self, region: str | None = None) -> Any:
        """A boto3 client for `region` (default: the operator's) from the same connection, cached.

        For operators that read or act in more than one region (source and DR regions). Tests
        register botocore event handlers on `client(region)` to inject faults.
        """
        region = region or self.region_name
        cache_ = self.__dict__.setdefault("_regional_clients", {})
        if region not in cache_:
            cache_[region] = make_hook(
                self.regional_hook_class or self.aws_hook_class,
                aws_conn_id=self.aws_conn_id,
                region_name=region,
                verify=self.verify,
                botocore_config=self.botocore_config,
                **self.regional_hook_kwargs,
            ).conn
        return cache_[region]


class DeferrableAwsOperator(BackstopAwsOperator):
    """An AWS operator that waits for something: in the triggerer when deferrable, else here.

    The one-look function and the trigger both report ("success" | "failed" | "not_found" |
    "pending", message). When deferred, Airflow resumes the task in
    `execute_complete(context, event, **resume_kwargs)`.

    :param deferrable: wait in the triggerer (no worker slot held) instead of polling here.
    :param waiter_delay: seconds between status checks.
    :param waiter_max_attempts: checks before the wait gives up.
    """

    def __init__(
        self,
        *,
        deferrable: bool = True,
        waiter_delay: float = 30,
        waiter_max_attempts: int = 240,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def wait_or_defer(
        self,
        poll: Callable[[], tuple[str, str]],
        trigger: Callable[[], Any],
        resume_kwargs: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """Returns the final (state, message) when waiting in the worker; never returns if deferred."""
        state, message = poll()
        if state == "pending" and self.deferrable:
            self.log.info("Deferring: %s", message)
            self.defer(
                trigger=trigger(),
                method_name="execute_complete",
                kwargs=resume_kwargs,
                timeout=timedelta(seconds=self.waiter_delay * self.waiter_max_attempts + 300),
            )
        attempts = 1
        while state == "pending":
            if attempts >= self.waiter_max_attempts:
                return "timeout", f"gave up after {attempts} polls; last seen: {message}"
            self.log.info("Waiting (%d/%d): %s", attempts, self.waiter_max_attempts, message)
            time.sleep(self.waiter_delay)
            state, message = poll()
            attempts += 1
        return state, message

    def trigger_connection(self, region: str | None = None) -> dict[str, Any]:
        """The arguments a trigger needs to reach the same account and region in the triggerer."""
        return {
            "aws_conn_id": self.aws_conn_id,
            "region_name": region or self.region_name,
            "verify": self.verify,
            "botocore_config": self.botocore_config,
            "waiter_delay": self.waiter_delay,
            "waiter_max_attempts": self.waiter_max_attempts,
        }
