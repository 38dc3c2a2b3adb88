"""The local stack, for real: moto_server + Slack recorder subprocesses over HTTP."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time

import boto3
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from include.local import fleet
from include.local.settings import (
    REPO_ROOT,
    SettingsError,
    airflow_env,
    load_settings,
    pool_commands,
    to_env,
)
from include.local.slack_recorder import RecorderClient, SlackRecorder
from include.local.stack import LocalStack, _pid_alive

TOKEN = "xoxb-local-recorder"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("stack") / "stack.json"
    with LocalStack(state, seed=True) as running:
        yield running
    assert not state.exists()


@pytest.fixture
def recorder(stack):
    client = RecorderClient(stack.slack_base_url)
    client.reset()
    yield client
    client.reset()


def _client(stack, service, region=fleet.PRIMARY_REGION):
    return boto3.client(
        service,
        endpoint_url=stack.aws_endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# --- AWS fleet ---------------------------------------------------------------------


def test_fleet_seeding_is_idempotent_and_complete(stack):
    first = stack.fleet
    second = fleet.seed_fleet(stack.aws_endpoint_url)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)

    rds = _client(stack, "rds")
    instances = {d["DBInstanceIdentifier"]: d for d in rds.describe_db_instances()["DBInstances"]}
    # the failover drills' Multi-AZ staging DB and staging Aurora cluster members
    from include.local.resilience_fleet import STAGING_AURORA_MEMBERS, STAGING_HA_DB

    assert set(instances) == {
        fleet.PRODUCTION_DB,
        fleet.STAGING_DB,
        fleet.ANALYTICS_INSTANCE,
        STAGING_HA_DB,
        *(member for member, _ in STAGING_AURORA_MEMBERS),
    }

    prod = instances[fleet.PRODUCTION_DB]
    primary_key = second["kms_keys"][fleet.PRIMARY_REGION]
    assert prod["Engine"] == "postgres" and prod["EngineVersion"] == "15.7"
    assert prod["DBInstanceClass"] == "db.r6g.large"
    assert prod["MultiAZ"] is True and prod["StorageEncrypted"] is True
    assert prod["KmsKeyId"] == primary_key["arn"]
    assert prod["BackupRetentionPeriod"] == 7
    assert prod["MasterUsername"] == "triflow_admin"
    assert prod["DBSubnetGroup"]["DBSubnetGroupName"] == fleet.DB_SUBNET_GROUP
    assert [g["DBParameterGroupName"] for g in prod["DBParameterGroups"]] == [fleet.DB_PARAMETER_GROUP]
    assert {t["Key"]: t["Value"] for t in prod["TagList"]} == {
        "environment": "production",
        "project": "triflow-ai",
    }
    staging = instances[fleet.STAGING_DB]
    assert staging["DBInstanceClass"] == "db.t3.medium" and staging["MultiAZ"] is False
    assert {t["Key"]: t["Value"] for t in staging["TagList"]}["environment"] == "staging"
    assert (
        staging["VpcSecurityGroups"][0]["VpcSecurityGroupId"]
        == prod["VpcSecurityGroups"][0]["VpcSecurityGroupId"]
    )

    cluster = rds.describe_db_clusters(DBClusterIdentifier=fleet.ANALYTICS_CLUSTER)["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql"
    assert {t["Key"]: t["Value"] for t in cluster["TagList"]}["backstop-tier"] == "weekly"
    assert [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]] == [fleet.ANALYTICS_INSTANCE]

    for region, alias in (
        (fleet.PRIMARY_REGION, fleet.PRIMARY_KMS_ALIAS),
        (fleet.DR_REGION, fleet.DR_KMS_ALIAS),
    ):
        kms = _client(stack, "kms", region)
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
        assert aliases[alias] == second["kms_keys"][region]["key_id"]
        assert len([a for a in aliases if a.startswith("alias/") and not a.startswith("alias/aws/")]) == 1

    s3 = _client(stack, "s3")
    assert s3.get_bucket_versioning(Bucket=fleet.REPORT_BUCKET)["Status"] == "Enabled"
    assert s3.get_bucket_location(Bucket=fleet.REPORT_BUCKET)["LocationConstraint"] == fleet.PRIMARY_REGION

    secret = json.loads(
        _client(stack, "secretsmanager").get_secret_value(SecretId=fleet.DB_MASTER_SECRET)["SecretString"]
    )
    assert secret["username"] == "triflow_admin" and secret["port"] == 5432
    assert secret["engine"] == "postgres" and secret["dbname"] == "triflow"
    assert len(secret["password"]) >= 16
    assert secret["password"] not in json.dumps(second)  # the summary never carries it


# --- Slack recorder ------------------------------------------------------------------


def test_block_kit_message_is_recorded(stack, recorder):
    client = WebClient(token=TOKEN, base_url=stack.slack_base_url)
    assert client.auth_test()["ok"] is True
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Backstop: snapshot failed"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*triflow-ai-production-db*"}},
    ]
    resp = client.chat_postMessage(channel="#backstop-alerts", text="snapshot failed", blocks=blocks)
    assert resp["ok"] is True and resp["channel"] == "#backstop-alerts"

    [message] = recorder.messages()
    assert message["channel"] == "#backstop-alerts"
    assert message["text"] == "snapshot failed"
    assert message["blocks"] == blocks
    assert message["ts"] == resp["ts"]
    assert TOKEN not in json.dumps(message)
    assert recorder.stats()["attempts"] == 2


def test_missing_token_and_unknown_method(stack, recorder):
    client = WebClient(base_url=stack.slack_base_url)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="#x", text="hi")
    assert err.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as err:
        WebClient(token=TOKEN, base_url=stack.slack_base_url).api_call("conversations.list")
    assert err.value.response["error"] == "unknown_method"
    assert recorder.messages() == []


def test_ratelimit_is_retried_and_delivered_once(stack, recorder):
    recorder.fault("ratelimit", count=2)
    client = WebClient(
        token=TOKEN,
        base_url=stack.slack_base_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    started = time.monotonic()
    resp = client.chat_postMessage(channel="#backstop-alerts", text="after 429s")
    assert resp["ok"] is True
    assert time.monotonic() - started >= 2  # honoured Retry-After: 1 twice
    assert [m["text"] for m in recorder.messages()] == ["after 429s"]
    assert recorder.stats()["ratelimited"] == 2 and recorder.stats()["attempts"] == 3


def test_down_mode_answers_503_until_reset(stack, recorder):
    recorder.fault("down")
    client = WebClient(token=TOKEN, base_url=stack.slack_base_url)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="#x", text="lost")
    assert err.value.response.status_code == 503
    assert recorder.stats()["failed"] == 1
    recorder.reset()
    assert client.chat_postMessage(channel="#x", text="back")["ok"] is True
    assert [m["text"] for m in recorder.messages()] == ["back"]


def test_in_process_recorder():
    with SlackRecorder() as rec:
        WebClient(token=TOKEN, base_url=rec.url).chat_postMessage(channel="C1", text="hello")
        assert [m["text"] for m in rec.messages] == ["hello"]
        assert RecorderClient(rec.url).messages()[0]["channel"] == "C1"


# --- settings / env ------------------------------------------------------------------


def test_stack_env_renders_airflow_connections(stack):
    env = stack.env()
    assert env["BACKSTOP_AWS_ENDPOINT_URL"] == stack.aws_endpoint_url
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["conn_type"] == "aws" and aws["login"] == "testing"
    assert aws["extra"]["endpoint_url"] == stack.aws_endpoint_url
    assert aws["extra"]["config_kwargs"]["retries"] == {"mode": "standard", "max_attempts": 5}
    slack = json.loads(env["AIRFLOW_CONN_SLACK_API_DEFAULT"])
    assert slack["extra"]["base_url"] == stack.slack_base_url
    assert slack["password"] == TOKEN  # the ${VAR:-default}
    assert env["AIRFLOW_VAR_BACKSTOP_ENVIRONMENT"] == "local"


def test_airflow_env_points_airflow_at_the_repo_and_the_stack(tmp_path):
    """What `make up` runs `airflow standalone` with (and the demo sets before importing Airflow)."""
    env = airflow_env({"AIRFLOW_CONN_AWS_DEFAULT": "{}"}, tmp_path / "home", environ={"PATH": "/usr/bin"})
    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO_ROOT / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(REPO_ROOT / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW_CONN_AWS_DEFAULT"] == "{}"
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO_ROOT / "plugins"), str(REPO_ROOT)]
    # standalone spawns `airflow` subprocesses: this venv's bin/ comes first
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)


def test_settings_substitution_and_missing_variable(tmp_path):
    path = tmp_path / "airflow_settings.yaml"
    path.write_text(
        textwrap.dedent(
            """
            airflow:
              connections:
                - conn_id: my_db
                  conn_type: postgres
                  conn_host: "${DB_HOST}"
                  conn_port: "${DB_PORT:-5432}"
                  conn_login: app
                  conn_password: "${DB_PASSWORD:-local}"
                  conn_extra: {sslmode: "${SSLMODE:-disable}", literal: "$${NOT_A_VAR}"}
              pools:
                - {pool_name: p1, pool_slot: 3, pool_description: three}
              variables:
                - {variable_name: region, variable_value: "${REGION:-ap-northeast-2}"}
                - {variable_name: tiers, variable_value: [daily, weekly]}
            """
        )
    )
    settings = load_settings(path, {"DB_HOST": "db.local", "DB_PASSWORD": "s3cret"})
    conn = settings.connection("my_db")
    assert (conn.host, conn.port, conn.password) == ("db.local", 5432, "s3cret")
    assert conn.extra == {"sslmode": "disable", "literal": "${NOT_A_VAR}"}
    assert "s3cret" not in repr(conn)
    env = to_env(settings)
    assert json.loads(env["AIRFLOW_CONN_MY_DB"]) == {
        "conn_type": "postgres",
        "host": "db.local",
        "port": 5432,
        "login": "app",
        "password": "s3cret",
        "extra": {"sslmode": "disable", "literal": "${NOT_A_VAR}"},
    }
    assert env["AIRFLOW_VAR_REGION"] == "ap-northeast-2"
    assert json.loads(env["AIRFLOW_VAR_TIERS"]) == ["daily", "weekly"]
    assert pool_commands(settings) == [["airflow", "pools", "set", "p1", "3", "three"]]

    with pytest.raises(SettingsError) as err:
        load_settings(path, {})
    message = str(err.value)
    assert str(path) in message
    assert "airflow.connections[my_db].conn_host" in message and "DB_HOST" in message


def test_repo_settings_file_needs_the_stack_endpoints():
    with pytest.raises(SettingsError, match="BACKSTOP_AWS_ENDPOINT_URL"):
        load_settings(environ={})
    settings = load_settings(
        environ={"BACKSTOP_AWS_ENDPOINT_URL": "http://x", "BACKSTOP_SLACK_BASE_URL": "http://y/api/"}
    )
    assert pool_commands(settings) == [
        [
            "airflow",
            "pools",
            "set",
            "rds_copy_ap-northeast-1",
            "20",
            "cross-region RDS snapshot copies in flight to ap-northeast-1 (AWS limit 20)",
            "--include-deferred",
        ]
    ]


# --- lifecycle -------------------------------------------------------------------------


def test_stop_leaves_no_processes(tmp_path):
    stack = LocalStack(tmp_path / "stack.json").start()
    pids = list(stack.state["pids"].values())
    assert all(_pid_alive(pid) for pid in pids)
    assert json.loads((tmp_path / "stack.json").read_text())["pids"] == stack.state["pids"]
    stack.stop()
    assert not any(_pid_alive(pid) for pid in pids)
    assert not (tmp_path / "stack.json").exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
