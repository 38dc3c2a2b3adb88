"""The ELBv2 hook the amazon provider lacks (see aws/elbv2.py); importing it imports boto3."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


class Elbv2Hook(AwsBaseHook):
    """Interact with Elastic Load Balancing v2 (boto3 client "elbv2")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "elbv2"
        super().__init__(*args, **kwargs)
