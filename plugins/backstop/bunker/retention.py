"""The bunker's retention: the same planner, operators and interlocks as retention_prune, with the
bunker's own retention connection, behind a check that this connection really is the bunker account.

Nothing here re-implements retention: `bunker_retention` wires `RetentionPlanOperator` and
`RetentionApplyOperator` (backstop.retention.operators) with `aws_conn_id` = the bunker's
retention connection, the bunker's regions, its report bucket and its rules
(backstop.policy.bunker_views.bunker_retention_rules). This module holds only the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from backstop.airflow.operators import BackstopAwsOperator, aws_template_fields
from backstop.aws.hooks import GENERIC_HOOK, LazyHookClass
from backstop.aws.rds_sharing import caller_account
from backstop.bunker.copy import WrongAccountError


class BunkerAccountCheckOperator(BackstopAwsOperator):
    """Fail (nothing listed, planned or deleted) unless `aws_conn_id` reaches the bunker account.

    A retention connection that reaches the source account would apply the bunker's rules to the
    source account's snapshots (they carry the same policy tags).

    :param aws_conn_id: the bunker's retention connection. :param bunker_account: bunker.account_id.
    """

    aws_hook_class = LazyHookClass(GENERIC_HOOK)
    regional_hook_kwargs = {"client_type": "sts"}  # client(): STS through the retention connection
    template_fields: Sequence[str] = aws_template_fields("bunker_account")

    def __init__(self, *, bunker_account: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bunker_account = bunker_account

    @property
    def resource_id(self) -> str:
        return f"bunker account {self.bunker_account}"

    def execute(self, context: Context) -> dict[str, str]:
        reached = caller_account(self.client())
        if reached != self.bunker_account:
            raise WrongAccountError(
                f"Connection {self.aws_conn_id!r} reaches account {reached}, not the bunker account "
                f"{self.bunker_account} (bunker.account_id); nothing was listed, planned or deleted."
            )
        self.log.info("Connection %s reaches the bunker account %s", self.aws_conn_id, self.bunker_account)
        return {"bunker_account": reached}
