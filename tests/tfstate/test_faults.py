"""Issue "Trust", Terraform 5 and 6: alerts name what failed; errors that cannot heal fail fast.

5. The failure callback names the resource from the task's `resource_id`; the discover and
   restore tasks had none, so Slack said `-`.
6. AccessDenied, NoSuchBucket, a missing backup or an invalid state will not heal in five
   minutes: they fail at once (AirflowFailException, no retries, one alert). Only throttling,
   5xx and network errors (and expired credentials, which the next try renews) are retried.

The 5xx fault is produced with a botocore `before-send` hook answering HTTP 503 `SlowDown`
(moto never throttles), as tests/throttling.py does for RDS; the NoSuchBucket is moto's own.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from backstop.airflow.slack import failure_blocks
from backstop.tfstate.faults import classify, fail_fast, unreachable
from tests.dag_loading import load_dag, shipped_policy
from tests.tfstate.conftest import PROJECT, requires_terraform
from tests.tfstate.test_restore_confinement import FakeTI, restore_operator

DAILY_0200_KST = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)


def aws_error(code: str, status: int, operation: str = "GetObject") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


CASES = [
    (aws_error("AccessDenied", 403), "permanent"),
    (aws_error("AllAccessDisabled", 403), "permanent"),
    (aws_error("NoSuchBucket", 404), "permanent"),
    (aws_error("NoSuchKey", 404), "permanent"),
    (aws_error("NoSuchVersion", 404), "permanent"),
    (aws_error("InvalidAccessKeyId", 403), "permanent"),
    (aws_error("KMS.DisabledException", 400), "permanent"),
    (aws_error("Throttling", 400), "transient"),
    (aws_error("ThrottlingException", 400), "transient"),
    (aws_error("RequestLimitExceeded", 400), "transient"),
    (aws_error("SlowDown", 503), "transient"),
    (aws_error("InternalError", 500), "transient"),
    (aws_error("ServiceUnavailable", 503), "transient"),
    (aws_error("SomethingNew", 502), "transient"),
    (aws_error("RequestTimeout", 400), "transient"),
    (aws_error("ExpiredToken", 400), "transient"),
    (EndpointConnectionError(endpoint_url="https://s3.ap-northeast-2.amazonaws.com"), "transient"),
    (ConnectTimeoutError(endpoint_url="https://s3.ap-northeast-2.amazonaws.com"), "transient"),
    (ReadTimeoutError(endpoint_url="https://s3.ap-northeast-2.amazonaws.com"), "transient"),
    (ConnectionClosedError(endpoint_url="https://s3.ap-northeast-2.amazonaws.com"), "transient"),
    (ConnectionResetError(104, "reset"), "transient"),
    (TimeoutError("timed out"), "transient"),
    (ValueError("a bug"), "unknown"),
]


@pytest.mark.parametrize(("exc", "expected"), CASES, ids=[f"{type(e).__name__}-{e}"[:60] for e, _ in CASES])
def test_classifier(exc, expected):
    assert classify(exc) == expected


def test_domain_errors_that_cannot_heal_are_permanent():
    from backstop.tfstate.sources import SourceError
    from backstop.tfstate.state import InvalidStateError
    from backstop.tfstate.vault import VaultError

    for exc in (SourceError("no state"), InvalidStateError("bad"), VaultError("missing")):
        assert classify(exc) == "permanent"


def test_fail_fast_turns_permanent_errors_into_airflow_fail_exceptions():
    with pytest.raises(AirflowFailException, match=r"AccessDenied.*GetObject.*not retried") as caught:
        with fail_fast("triflow-infra/default"):
            raise aws_error("AccessDenied", 403)
    assert "triflow-infra/default" in str(caught.value)
    assert isinstance(caught.value.__cause__, ClientError)
    for transient in (
        aws_error("SlowDown", 503),
        EndpointConnectionError(endpoint_url="x"),
        ValueError("bug"),
    ):
        with pytest.raises(type(transient)):
            with fail_fast("x"):
                raise transient


def test_the_primary_vault_counts_as_unreachable_only_for_outage_errors():
    assert unreachable(EndpointConnectionError(endpoint_url="x"))
    assert unreachable(aws_error("AccessDenied", 403))
    assert unreachable(aws_error("ServiceUnavailable", 503))
    assert not unreachable(aws_error("NoSuchKey", 404))
    assert not unreachable(aws_error("NoSuchVersion", 404))
    from backstop.tfstate.vault import VaultError

    assert not unreachable(VaultError("no backup of x/default"))


def test_terraform_operators_name_their_resource_in_alerts(tf_world, tmp_path):
    from backstop.tfstate.backup import TerraformStateTargetsOperator

    projects = [p.model_dump() for p in tf_world.policy.terraform_state.projects]
    discover = TerraformStateTargetsOperator(task_id="discover_workspaces", projects=projects)
    text, _ = failure_blocks({"task": discover, "exception": RuntimeError("x")})
    assert f"({PROJECT})" in text

    restore = restore_operator(tf_world, tmp_path / "root", "plan")
    text, _ = failure_blocks({"task": restore, "exception": RuntimeError("x")})
    assert f"({PROJECT})" in text  # before it runs: the projects it may restore
    with pytest.raises(AirflowFailException):
        restore.execute(
            {"run_id": "m", "ti": FakeTI(), "params": {"project": PROJECT, "workspace": "staging"}}
        )
    text, _ = failure_blocks({"task": restore, "exception": RuntimeError("x")})
    assert f"({PROJECT}/staging)" in text  # once it knows which


def test_discover_fails_fast_on_a_missing_backend_bucket_and_names_the_project(
    airflow_db, fleet, slack, tmp_path, monkeypatch
):
    policy = shipped_policy()
    policy["terraform_state"]["projects"].insert(
        0,
        {
            "name": "ghost-infra",
            "source": {"type": "s3_backend", "bucket": "ghost-terraform-state", "key": "terraform.tfstate"},
        },
    )
    dag = load_dag("terraform_state_backup.py", "terraform_state_backup", policy, tmp_path, monkeypatch)
    dag_run = dag.test(logical_date=DAILY_0200_KST)

    from airflow.utils.session import create_session

    with create_session() as session:
        tis = {ti.task_id: ti for ti in dag_run.get_task_instances(session=session)}
        discover = (tis["discover_workspaces"].state, tis["discover_workspaces"].try_number)
    assert discover == ("failed", 1)  # retries: 1 in the test policy, none used
    (message,) = slack.messages()
    assert "(ghost-infra)" in message["text"] and "NoSuchBucket" in message["text"]
    assert "Try*\n1 of 2" in json.dumps(message["blocks"]).replace("\\n", "\n")


@requires_terraform
def test_backup_fails_fast_on_a_missing_backend_bucket_and_retries_a_5xx(tf_world):
    from backstop.tfstate.backup import TerraformStateBackupOperator

    tf_world.apply("default")

    def operator(source):
        return TerraformStateBackupOperator(
            task_id="backup",
            project=PROJECT,
            workspace="default",
            source=source,
            vault=tf_world.vault,
            aws_conn_id="aws_default",
            region_name="ap-northeast-2",
            botocore_config={"retries": {"mode": "standard", "max_attempts": 2}},
        )

    context = {"run_id": "scheduled__x", "logical_date": DAILY_0200_KST, "params": {}}
    with pytest.raises(AirflowFailException, match="NoSuchBucket"):
        operator({**tf_world.source, "bucket": "ghost-terraform-state"}).execute(context)

    op = operator(tf_world.source)
    answered = []

    def slow_down(request, **_):
        answered.append(503)
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        return AWSResponse(request.url, 503, {"Content-Type": "application/xml"}, _Raw(body))

    op.client("ap-northeast-2").meta.events.register("before-send.s3.GetObject", slow_down)
    with pytest.raises(ClientError) as caught:
        op.execute(context)
    assert not isinstance(caught.value, AirflowFailException)
    # botocore retried it within the try (max_attempts 2 = two retries), then left it to Airflow
    assert caught.value.response["Error"]["Code"] == "SlowDown" and len(answered) == 3


@requires_terraform
def test_restore_of_a_deleted_version_fails_fast_with_a_clear_message(tf_world, tmp_path):
    tf_world.apply("default")
    tf_world.backup("default", date(2026, 11, 20))
    manifest = tf_world.latest_manifest()
    tf_world.s3.delete_object(
        Bucket=tf_world.vault["bucket"],
        Key=manifest["state_key"],
        VersionId=manifest["state_version_id"],
        BypassGovernanceRetention=True,
    )
    op = restore_operator(tf_world, tmp_path / "root", "plan")
    with pytest.raises(AirflowFailException) as caught:
        op.execute({"run_id": "m", "ti": FakeTI(), "params": {"project": PROJECT}})
    message = str(caught.value)
    assert "backup missing" in message and manifest["state_version_id"] in message
    assert "NoSuchVersion" in message


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body
