"""What the DynamoDB operators share: a plain DynamoDB client per region, S3, the wait trigger.

`aws_hook_class` is the provider's DynamoDBHook (parity with the provider), but its `conn` is a
boto3 *resource* and its `.client` is that resource's client, which re-serializes attribute
values (`{"S": "x"}` is sent as a map): the adapters in backstop.aws.dynamodb speak the
low-level wire format, so `client(region)` is a plain client from the provider's generic hook
(`client_type="dynamodb"`), on the same connection.
"""

from __future__ import annotations

from typing import Any

from backstop.airflow.operators import DeferrableAwsOperator
from backstop.airflow.triggers import PollingTrigger
from backstop.aws.dynamodb import DYNAMODB_HOOK
from backstop.aws.hooks import GENERIC_HOOK, S3_HOOK, LazyHookClass, make_hook


class DynamoDbOperator(DeferrableAwsOperator):
    """Base of the DynamoDB operators: `client(region)` is a DynamoDB client, `s3(region)` an S3 one."""

    aws_hook_class = LazyHookClass(DYNAMODB_HOOK)
    regional_hook_class = LazyHookClass(GENERIC_HOOK)  # client(region): a plain low-level client
    regional_hook_kwargs = {"client_type": "dynamodb"}

    def s3(self, region: str | None = None) -> Any:
        region = region or self.region_name
        cache_ = self.__dict__.setdefault("_s3_clients", {})
        if region not in cache_:
            cache_[region] = make_hook(
                S3_HOOK,
                aws_conn_id=self.aws_conn_id,
                region_name=region,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ).conn
        return cache_[region]


class DynamoDbStateTrigger(PollingTrigger):
    """Fire once a DynamoDB backup / table / export / import settled (or vanished, or timed out).

    :param what: "backup" | "table" | "export" | "import".
    :param ident: the backup, export or import ARN, or the table name.
    """

    hook_class_path = DYNAMODB_HOOK
    subject_fields = ("ident", "what")
    event_key = "ident"

    def __init__(self, *, what: str, ident: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.what = what
        self.ident = ident

    def look(self) -> tuple[str, str]:
        # describe calls only (no attribute values), so the resource's client is fine here
        return self.poll(self.hook.client)

    def poll(self, client: Any) -> tuple[str, str]:
        return look(client, self.what, self.ident)


def look(client: Any, what: str, ident: str) -> tuple[str, str]:
    """One look at a backup, table, export or import (see backstop.aws.dynamodb)."""
    from backstop.aws import dynamodb

    if what == "backup":
        return dynamodb.backup_state(client, ident)
    if what == "table":
        return dynamodb.table_state(client, ident)
    if what == "export":
        return dynamodb.export_state(client, ident)
    if what == "import":
        return dynamodb.import_state(client, ident)
    raise ValueError(f"unknown DynamoDB wait subject {what!r}")
