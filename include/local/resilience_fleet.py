"""Seed what the resilience drills act on: a staging Multi-AZ database and ECS services.

The seed plan's staging database (`triflow-ai-staging-db`) is single-AZ (the infrastructure
guide: Multi-AZ only in production), and a forced failover needs a standby, so the failover
drill gets its own staging Multi-AZ instance, `triflow-ai-staging-ha-db`, with its own master
secret, and a staging Aurora PostgreSQL cluster, `triflow-ai-staging-aurora` (a writer in 2a and
a reader in 2c, same master secret), for the cluster failover drill. ECS (seed: Test 2): the staging cluster with the backend service at 2 tasks, and the
production cluster with its backend service (never drilled: the environment guard's test).
The staging service sits behind an ELBv2 target group, `triflow-staging-backend` (ip targets,
port 8000; its tasks registered as the ECS scheduler would, the emulation's `task_target_ip`).

Idempotent like `include.local.fleet`: everything is looked up first and adopted.
`seed_dataplane(plane, endpoint_url)` gives the staging instance its database on the local data
plane (the emulated failover's outage acts on it) and its role with the secret's password.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from botocore.exceptions import ClientError

STAGING_HA_DB = "triflow-ai-staging-ha-db"
STAGING_HA_SECRET = "triflow/staging/db-master"
STAGING_USERNAME = "triflow_staging"
STAGING_AURORA = "triflow-ai-staging-aurora"
STAGING_AURORA_MEMBERS = (("triflow-ai-staging-aurora-1", "a"), ("triflow-ai-staging-aurora-2", "c"))
STAGING_CLUSTER = "triflow-ai-staging-cluster"
STAGING_SERVICE = "triflow-ai-staging-backend-service"
PRODUCTION_CLUSTER = "triflow-ai-production-cluster"
PRODUCTION_SERVICE = "triflow-ai-production-backend-service"
TASK_FAMILY = "triflow-ai-backend"
STAGING_TARGET_GROUP = "triflow-staging-backend"
BACKEND_PORT = 8000
REGION = "ap-northeast-2"


def _tags(environment: str) -> list[dict[str, str]]:
    return [{"Key": "environment", "Value": environment}, {"Key": "project", "Value": "triflow-ai"}]


def _ecs_tags(environment: str) -> list[dict[str, str]]:
    return [{"key": t["Key"], "value": t["Value"]} for t in _tags(environment)]


def _staging_secret(sm: Any) -> tuple[str, str]:
    try:
        value = sm.get_secret_value(SecretId=STAGING_HA_SECRET)
        return value["ARN"], json.loads(value["SecretString"])["password"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    password = secrets.token_urlsafe(24)
    created = sm.create_secret(
        Name=STAGING_HA_SECRET,
        Description="TriFlow AI staging (Multi-AZ) database master credentials",
        SecretString=json.dumps({"username": STAGING_USERNAME, "password": password, "dbname": "triflow"}),
        Tags=_tags("staging"),
    )
    return created["ARN"], password


def _staging_ha_instance(rds: Any, password: str, common: dict[str, Any]) -> dict[str, Any]:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=STAGING_HA_DB)["DBInstances"][0]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "DBInstanceNotFound":
            raise
    return rds.create_db_instance(
        DBInstanceIdentifier=STAGING_HA_DB,
        DBInstanceClass="db.t3.medium",
        MultiAZ=True,
        AvailabilityZone=f"{REGION}a",
        StorageEncrypted=False,
        MasterUsername=STAGING_USERNAME,
        MasterUserPassword=password,
        Tags=_tags("staging"),
        **{k: v for k, v in common.items() if k != "MasterUsername"},
    )["DBInstance"]


def _staging_aurora(rds: Any, password: str, common: dict[str, Any]) -> dict[str, Any]:
    """The staging Aurora PostgreSQL cluster with two instances in two AZs (writer first)."""
    try:
        cluster = rds.describe_db_clusters(DBClusterIdentifier=STAGING_AURORA)["DBClusters"][0]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("DBClusterNotFoundFault", "DBClusterNotFound"):
            raise
        cluster = rds.create_db_cluster(
            DBClusterIdentifier=STAGING_AURORA,
            Engine="aurora-postgresql",
            EngineVersion="15.4",
            MasterUsername=STAGING_USERNAME,
            MasterUserPassword=password,
            DatabaseName="triflow",
            Port=common.get("Port", 5432),
            DBSubnetGroupName=common["DBSubnetGroupName"],
            VpcSecurityGroupIds=common["VpcSecurityGroupIds"],
            StorageEncrypted=False,
            Tags=_tags("staging"),
        )["DBCluster"]
    members = {m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers") or []}
    for identifier, az in STAGING_AURORA_MEMBERS:
        if identifier not in members:
            rds.create_db_instance(
                DBInstanceIdentifier=identifier,
                DBClusterIdentifier=STAGING_AURORA,
                DBInstanceClass="db.r6g.large",
                Engine="aurora-postgresql",
                AvailabilityZone=f"{REGION}{az}",
                DBSubnetGroupName=common["DBSubnetGroupName"],
                # The environment tag is the cluster's (the drill's guard reads it there). Members
                # carry none, so an `rds_instance` selector on environment=staging does not pick
                # them up: a cluster member cannot be snapshotted as an instance.
                Tags=[{"Key": "project", "Value": "triflow-ai"}],
            )
    return rds.describe_db_clusters(DBClusterIdentifier=STAGING_AURORA)["DBClusters"][0]


def _target_group(client: Any, common: dict[str, Any]) -> str:
    """The staging backend's target group (ip targets on the fleet's VPC); its ARN."""
    elb = client("elbv2", REGION)
    try:
        return elb.describe_target_groups(Names=[STAGING_TARGET_GROUP])["TargetGroups"][0]["TargetGroupArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("TargetGroupNotFound", "TargetGroupNotFoundException"):
            raise
    groups = client("ec2", REGION).describe_security_groups(GroupIds=list(common["VpcSecurityGroupIds"][:1]))
    return elb.create_target_group(
        Name=STAGING_TARGET_GROUP,
        Protocol="HTTP",
        Port=BACKEND_PORT,
        VpcId=groups["SecurityGroups"][0]["VpcId"],
        TargetType="ip",
        HealthCheckPath="/health",
        Tags=_tags("staging"),
    )["TargetGroups"][0]["TargetGroupArn"]


def _service(
    ecs: Any,
    cluster: str,
    service: str,
    environment: str,
    tasks: int,
    target_group: tuple[Any, str] | None = None,
) -> dict[str, Any]:
    """Create (or adopt) a service of `tasks` tasks; `target_group` = (elbv2 client, ARN) to sit behind."""
    from include.local.emulation import task_target_ip

    ecs.create_cluster(clusterName=cluster, tags=_ecs_tags(environment))
    existing = ecs.describe_services(cluster=cluster, services=[service])["services"]
    if existing and existing[0].get("status") == "ACTIVE":
        return existing[0]
    task_def = ecs.register_task_definition(
        family=TASK_FAMILY,
        networkMode="bridge",
        cpu="512",
        memory="1024",
        containerDefinitions=[
            {
                "name": "backend",
                "image": "triflow-ai/backend:latest",
                "memory": 1024,
                "portMappings": [{"containerPort": BACKEND_PORT}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    balanced = (
        {
            "loadBalancers": [
                {"targetGroupArn": target_group[1], "containerName": "backend", "containerPort": BACKEND_PORT}
            ]
        }
        if target_group
        else {}
    )
    created = ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition=task_def,
        desiredCount=tasks,
        launchType="FARGATE",
        tags=_ecs_tags(environment),
        **balanced,
    )["service"]
    deployment = (created.get("deployments") or [{}])[0].get("id", "ecs-svc/backstop")
    # moto starts no tasks for a service: run them as the scheduler would, in the service's group.
    started = ecs.run_task(
        cluster=cluster,
        taskDefinition=task_def,
        count=tasks,
        launchType="FARGATE",
        group=f"service:{service}",
        startedBy=deployment,
    )["tasks"]
    if target_group:  # and register them in its target group, as the scheduler would
        elb, arn = target_group
        elb.register_targets(
            TargetGroupArn=arn,
            Targets=[{"Id": task_target_ip(t["taskArn"]), "Port": BACKEND_PORT} for t in started],
        )
    ecs.update_service(cluster=cluster, service=service, desiredCount=tasks)  # moto: running = desired
    return created


def seed_resilience(client: Any, common: dict[str, Any]) -> dict[str, Any]:
    """Create (or adopt) the staging Multi-AZ instance and the ECS services; a summary back.

    `client(service, region)` makes an emulator client; `common` holds the fleet's instance
    settings (engine, subnet group, security groups, parameter group).
    """
    _, password = _staging_secret(client("secretsmanager", REGION))
    instance = _staging_ha_instance(client("rds", REGION), password, common)
    aurora = _staging_aurora(client("rds", REGION), password, common)
    ecs = client("ecs", REGION)
    target_group = _target_group(client, common)
    staging = _service(
        ecs, STAGING_CLUSTER, STAGING_SERVICE, "staging", 2, (client("elbv2", REGION), target_group)
    )
    production = _service(ecs, PRODUCTION_CLUSTER, PRODUCTION_SERVICE, "production", 2)
    return {
        "staging_ha_db": {
            "identifier": STAGING_HA_DB,
            "multi_az": instance.get("MultiAZ"),
            "availability_zone": instance.get("AvailabilityZone"),
            "secret": STAGING_HA_SECRET,
        },
        "staging_aurora": {
            "identifier": STAGING_AURORA,
            "members": [m["DBInstanceIdentifier"] for m in aurora.get("DBClusterMembers") or []],
            "secret": STAGING_HA_SECRET,
        },
        "ecs_services": {
            STAGING_SERVICE: {
                "cluster": STAGING_CLUSTER,
                "arn": staging.get("serviceArn"),
                "tasks": 2,
                "target_group_arn": target_group,
            },
            PRODUCTION_SERVICE: {
                "cluster": PRODUCTION_CLUSTER,
                "arn": production.get("serviceArn"),
                "tasks": 2,
            },
        },
    }


def seed_dataplane(plane: Any, endpoint_url: str) -> str:
    """The staging instance's and Aurora cluster's databases on the local data plane, and their
    role; returns the instance's database.

    The databases are what `backstop.drills.dataplane` maps the instance and the cluster to
    (clones of the demo source), so the failover probe and data checks really connect, and the
    emulated failover really cuts them off.
    """
    import boto3

    from backstop.drills.dataplane import clone_name

    sm = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    password = json.loads(sm.get_secret_value(SecretId=STAGING_HA_SECRET)["SecretString"])["password"]
    names = [clone_name(STAGING_HA_DB, REGION), clone_name(STAGING_AURORA, REGION)]
    role = '"' + STAGING_USERNAME + '"'
    with plane.connect() as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (STAGING_USERNAME,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        password_literal = "'" + password.replace("'", "''") + "'"
        conn.execute(f"{verb} ROLE {role} WITH LOGIN PASSWORD {password_literal}")
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE triflow')
    for name in names:
        with plane.connect(name) as conn:
            conn.execute(f"GRANT USAGE ON SCHEMA core TO {role}")
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA core TO {role}")
    return names[0]
