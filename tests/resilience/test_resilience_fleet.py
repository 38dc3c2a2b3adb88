"""The seeded resilience fleet and the emulated control plane beside moto (include/local)."""

from __future__ import annotations

import time

import pytest


def test_the_fleet_has_a_staging_multi_az_database_and_two_services_of_two_tasks(fleet, local_stack):
    import boto3

    rds = boto3.client("rds", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)
    ecs = boto3.client("ecs", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)
    db = rds.describe_db_instances(DBInstanceIdentifier="triflow-ai-staging-ha-db")["DBInstances"][0]
    assert db["MultiAZ"] is True and {"Key": "environment", "Value": "staging"} in db["TagList"]
    for cluster, service, environment in (
        ("triflow-ai-staging-cluster", "triflow-ai-staging-backend-service", "staging"),
        ("triflow-ai-production-cluster", "triflow-ai-production-backend-service", "production"),
    ):
        described = ecs.describe_services(cluster=cluster, services=[service], include=["TAGS"])["services"][
            0
        ]
        assert (described["desiredCount"], described["runningCount"]) == (2, 2)
        assert {"key": "environment", "value": environment} in described["tags"]
        tasks = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
        statuses = [t["lastStatus"] for t in ecs.describe_tasks(cluster=cluster, tasks=tasks)["tasks"]]
        assert statuses == ["RUNNING", "RUNNING"]


def test_the_fleet_has_a_staging_aurora_cluster_with_a_writer_and_a_reader_in_two_azs(fleet, local_stack):
    import boto3

    rds = boto3.client("rds", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)
    cluster = rds.describe_db_clusters(DBClusterIdentifier="triflow-ai-staging-aurora")["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql"
    assert {"Key": "environment", "Value": "staging"} in cluster["TagList"]
    members = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]}
    assert members == {"triflow-ai-staging-aurora-1": True, "triflow-ai-staging-aurora-2": False}
    zones = {
        rds.describe_db_instances(DBInstanceIdentifier=m)["DBInstances"][0]["AvailabilityZone"]
        for m in members
    }
    assert zones == {"ap-northeast-2a", "ap-northeast-2c"}


def test_the_emulation_refuses_unknown_switches_and_a_failover_without_standby(fleet, local_stack):
    import boto3
    from botocore.exceptions import ClientError

    from include.local.emulation import configure

    with pytest.raises(ValueError, match="unknown emulation settings"):
        configure(local_stack.aws_endpoint_url, failover_sconds=1)
    rds = boto3.client("rds", region_name="ap-northeast-2", endpoint_url=local_stack.aws_endpoint_url)
    with pytest.raises(ClientError, match="non Multi-AZ"):
        rds.reboot_db_instance(DBInstanceIdentifier="triflow-ai-staging-db", ForceFailover=True)


def test_a_reset_account_resets_the_emulation(fleet, local_stack):
    import urllib.request

    from include.local.emulation import DEFAULTS, configure

    assert configure(local_stack.aws_endpoint_url, failover="no-az-change")["failover"] == "no-az-change"
    request = urllib.request.Request(f"{local_stack.aws_endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    time.sleep(0.1)
    assert configure(local_stack.aws_endpoint_url) == DEFAULTS
