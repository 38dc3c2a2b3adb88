"""Seed the emulated AWS account with the TriFlow fleet described in ``seeds/``.

``seed_fleet(endpoint_url)`` is idempotent: each resource is looked up first and
adopted if it exists, so calling it twice (or after a partial failure) is safe.
It only ever talks to ``endpoint_url`` with the emulator's dummy keys.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from include.local.dynamodb_fleet import seed_dynamodb

PRIMARY_REGION = "ap-northeast-2"  # Seoul: where the fleet runs
DR_REGION = "ap-northeast-1"  # Tokyo: cross-region snapshot copies land here

DUMMY_ACCESS_KEY = "testing"  # moto's dummy credentials, not secrets
DUMMY_SECRET_KEY = "testing"

PROJECT = "triflow-ai"
PRIMARY_KMS_ALIAS = "alias/triflow-rds"
DR_KMS_ALIAS = "alias/backstop-dr"

VPC_NAME = "triflow-ai-vpc"
VPC_CIDR = "10.20.0.0/16"
SUBNETS = (("10.20.1.0/24", "ap-northeast-2a"), ("10.20.2.0/24", "ap-northeast-2c"))
# The DR region has the same network shape (and subnet group name) for restores there.
DR_VPC_CIDR = "10.30.0.0/16"
DR_SUBNETS = (("10.30.1.0/24", "ap-northeast-1a"), ("10.30.2.0/24", "ap-northeast-1c"))
DB_SUBNET_GROUP = "triflow-ai-db-subnets"
DB_SECURITY_GROUP = "triflow-ai-db-sg"
DB_PARAMETER_GROUP = "triflow-ai-pg15"
DB_PARAMETER_GROUP_FAMILY = "postgres15"

ENGINE = "postgres"
ENGINE_VERSION = "15.7"
MASTER_USERNAME = "triflow_admin"
DB_NAME = "triflow"
DB_PORT = 5432
BACKUP_RETENTION_DAYS = 7

PRODUCTION_DB = "triflow-ai-production-db"
STAGING_DB = "triflow-ai-staging-db"
ANALYTICS_CLUSTER = "triflow-ai-analytics"
ANALYTICS_INSTANCE = "triflow-ai-analytics-1"
AURORA_ENGINE = "aurora-postgresql"
AURORA_ENGINE_VERSION = "15.4"

REPORT_BUCKET = "triflow-backstop-reports"
# Terraform state: the S3 backend bucket (versioned, as Terraform recommends) and the vaults
# (Object Lock enabled at creation; it cannot be turned on later for a bucket on AWS).
TERRAFORM_BACKEND_BUCKET = "triflow-terraform-state"
TFSTATE_VAULT_BUCKET = "triflow-backstop-tfstate-vault"
TFSTATE_DR_VAULT_BUCKET = "triflow-backstop-tfstate-vault-dr"
DB_MASTER_SECRET = "triflow/production/db-master"

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


def _client(service: str, endpoint_url: str, region: str):
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=DUMMY_ACCESS_KEY,
        aws_secret_access_key=DUMMY_SECRET_KEY,
        config=_BOTO_CONFIG,
    )


def _tags(**kv: str) -> list[dict[str, str]]:
    return [{"Key": k.replace("_", "-"), "Value": v} for k, v in kv.items()]


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


# --- KMS -------------------------------------------------------------------------


def _ensure_kms_key(kms, alias: str, description: str) -> dict[str, str]:
    for page in kms.get_paginator("list_aliases").paginate():
        for entry in page["Aliases"]:
            if entry["AliasName"] == alias and entry.get("TargetKeyId"):
                meta = kms.describe_key(KeyId=entry["TargetKeyId"])["KeyMetadata"]
                return {"alias": alias, "key_id": meta["KeyId"], "arn": meta["Arn"]}
    meta = kms.create_key(
        Description=description,
        KeyUsage="ENCRYPT_DECRYPT",
        Tags=[{"TagKey": "project", "TagValue": PROJECT}],
    )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return {"alias": alias, "key_id": meta["KeyId"], "arn": meta["Arn"]}


# --- network -------------------------------------------------------------------


def _ensure_network(ec2, cidr: str = VPC_CIDR, subnets: tuple = SUBNETS) -> dict[str, Any]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(
            CidrBlock=cidr,
            TagSpecifications=[{"ResourceType": "vpc", "Tags": _tags(Name=VPC_NAME, project=PROJECT)}],
        )["Vpc"]["VpcId"]
    existing = {
        s["CidrBlock"]: s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    }
    subnet_ids = []
    for subnet_cidr, az in subnets:
        if subnet_cidr not in existing:
            existing[subnet_cidr] = ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=subnet_cidr, AvailabilityZone=az
            )["Subnet"]["SubnetId"]
        subnet_ids.append(existing[subnet_cidr])
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": [DB_SECURITY_GROUP]},
        ]
    )["SecurityGroups"]
    if groups:
        sg_id = groups[0]["GroupId"]
    else:
        sg_id = ec2.create_security_group(
            GroupName=DB_SECURITY_GROUP,
            Description="TriFlow AI PostgreSQL access from the ECS services",
            VpcId=vpc_id,
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=sg_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": DB_PORT,
                    "ToPort": DB_PORT,
                    "IpRanges": [{"CidrIp": cidr, "Description": "VPC"}],
                }
            ],
        )
    return {"vpc_id": vpc_id, "subnet_ids": subnet_ids, "security_group_id": sg_id}


def _ensure_rds_groups(rds, subnet_ids: list[str]) -> None:
    try:
        rds.describe_db_subnet_groups(DBSubnetGroupName=DB_SUBNET_GROUP)
    except ClientError as exc:
        if _error_code(exc) != "DBSubnetGroupNotFoundFault":
            raise
        rds.create_db_subnet_group(
            DBSubnetGroupName=DB_SUBNET_GROUP,
            DBSubnetGroupDescription="TriFlow AI database subnets (2 AZs)",
            SubnetIds=subnet_ids,
            Tags=_tags(project=PROJECT),
        )
    # moto answers an unknown name with an empty list (AWS raises DBParameterGroupNotFound).
    try:
        groups = rds.describe_db_parameter_groups(DBParameterGroupName=DB_PARAMETER_GROUP)[
            "DBParameterGroups"
        ]
    except ClientError as exc:
        if _error_code(exc) != "DBParameterGroupNotFound":
            raise
        groups = []
    if not groups:
        rds.create_db_parameter_group(
            DBParameterGroupName=DB_PARAMETER_GROUP,
            DBParameterGroupFamily=DB_PARAMETER_GROUP_FAMILY,
            Description="TriFlow AI PostgreSQL 15 parameters",
            Tags=_tags(project=PROJECT),
        )


# --- RDS -----------------------------------------------------------------------


def _describe_instance(rds, identifier: str) -> dict[str, Any] | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except ClientError as exc:
        if _error_code(exc) == "DBInstanceNotFound":
            return None
        raise


def _describe_cluster(rds, identifier: str) -> dict[str, Any] | None:
    try:
        return rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    except ClientError as exc:
        if _error_code(exc) == "DBClusterNotFoundFault":
            return None
        raise


def _ensure_instance(rds, identifier: str, **kwargs: Any) -> dict[str, Any]:
    found = _describe_instance(rds, identifier)
    if found is not None:
        return found
    return rds.create_db_instance(DBInstanceIdentifier=identifier, **kwargs)["DBInstance"]


def _instance_summary(db: dict[str, Any]) -> dict[str, Any]:
    endpoint = db.get("Endpoint") or {}
    return {
        "identifier": db["DBInstanceIdentifier"],
        "arn": db.get("DBInstanceArn"),
        "class": db.get("DBInstanceClass"),
        "engine": f"{db.get('Engine')} {db.get('EngineVersion')}",
        "multi_az": db.get("MultiAZ"),
        "encrypted": db.get("StorageEncrypted"),
        "kms_key_id": db.get("KmsKeyId"),
        "endpoint": f"{endpoint.get('Address')}:{endpoint.get('Port')}" if endpoint else None,
        "status": db.get("DBInstanceStatus"),
    }


# --- S3 / Secrets Manager ------------------------------------------------------


def _ensure_bucket(s3, name: str, region: str, purpose: str = "backstop-reports") -> str:
    try:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as exc:
        if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(project=PROJECT, purpose=purpose)})
    return f"arn:aws:s3:::{name}"


def _ensure_lock_bucket(s3, name: str, region: str, purpose: str) -> str:
    """A bucket created with Object Lock enabled (versioning comes with it); adopted if present."""
    try:
        s3.create_bucket(
            Bucket=name,
            CreateBucketConfiguration={"LocationConstraint": region},
            ObjectLockEnabledForBucket=True,
        )
    except ClientError as exc:
        if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(project=PROJECT, purpose=purpose)})
    return f"arn:aws:s3:::{name}"


def _ensure_master_secret(sm, kms_key_id: str) -> tuple[str, str]:
    """Return (secret ARN, master password); an existing secret keeps its password."""
    try:
        value = sm.get_secret_value(SecretId=DB_MASTER_SECRET)
        return value["ARN"], json.loads(value["SecretString"])["password"]
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
    password = secrets.token_urlsafe(24)
    created = sm.create_secret(
        Name=DB_MASTER_SECRET,
        Description="TriFlow AI production database master credentials",
        KmsKeyId=kms_key_id,
        SecretString=json.dumps(
            {
                "username": MASTER_USERNAME,
                "password": password,
                "engine": ENGINE,
                "port": DB_PORT,
                "dbname": DB_NAME,
            }
        ),
        Tags=_tags(environment="production", project=PROJECT),
    )
    return created["ARN"], password


# --- entry point ---------------------------------------------------------------


def seed_fleet(endpoint_url: str) -> dict[str, Any]:
    """Create (or adopt) the demo fleet in the emulator at ``endpoint_url``.

    Returns a JSON-serialisable summary: KMS keys per region, network ids,
    RDS instances, the Aurora cluster, the report bucket and the secret ARN.
    The master password is never included in the summary.
    """
    kms_primary = _ensure_kms_key(
        _client("kms", endpoint_url, PRIMARY_REGION),
        PRIMARY_KMS_ALIAS,
        "TriFlow AI RDS storage encryption",
    )
    kms_dr = _ensure_kms_key(
        _client("kms", endpoint_url, DR_REGION),
        DR_KMS_ALIAS,
        "Backstop DR-region key for cross-region snapshot copies",
    )

    network = _ensure_network(_client("ec2", endpoint_url, PRIMARY_REGION))
    rds = _client("rds", endpoint_url, PRIMARY_REGION)
    _ensure_rds_groups(rds, network["subnet_ids"])
    # DR restores (drills of the cross-region copies) need the same-named groups in Tokyo.
    dr_network = _ensure_network(_client("ec2", endpoint_url, DR_REGION), DR_VPC_CIDR, DR_SUBNETS)
    _ensure_rds_groups(_client("rds", endpoint_url, DR_REGION), dr_network["subnet_ids"])

    secret_arn, master_password = _ensure_master_secret(
        _client("secretsmanager", endpoint_url, PRIMARY_REGION), kms_primary["arn"]
    )

    common = {
        "Engine": ENGINE,
        "EngineVersion": ENGINE_VERSION,
        "MasterUsername": MASTER_USERNAME,
        "DBName": DB_NAME,
        "Port": DB_PORT,
        "AllocatedStorage": 100,
        "StorageType": "gp3",
        "BackupRetentionPeriod": BACKUP_RETENTION_DAYS,
        "PreferredBackupWindow": "18:00-19:00",  # 03:00-04:00 KST
        "DBSubnetGroupName": DB_SUBNET_GROUP,
        "VpcSecurityGroupIds": [network["security_group_id"]],
        "DBParameterGroupName": DB_PARAMETER_GROUP,
        "CopyTagsToSnapshot": True,
    }
    production = _ensure_instance(
        rds,
        PRODUCTION_DB,
        DBInstanceClass="db.r6g.large",
        MultiAZ=True,
        StorageEncrypted=True,
        KmsKeyId=kms_primary["arn"],
        MasterUserPassword=master_password,
        DeletionProtection=True,
        Tags=_tags(environment="production", project=PROJECT),
        **common,
    )
    staging = _ensure_instance(
        rds,
        STAGING_DB,
        DBInstanceClass="db.t3.medium",
        MultiAZ=False,
        StorageEncrypted=False,
        MasterUserPassword=secrets.token_urlsafe(24),
        Tags=_tags(environment="staging", project=PROJECT),
        **common,
    )

    cluster = _describe_cluster(rds, ANALYTICS_CLUSTER)
    if cluster is None:
        cluster = rds.create_db_cluster(
            DBClusterIdentifier=ANALYTICS_CLUSTER,
            Engine=AURORA_ENGINE,
            EngineVersion=AURORA_ENGINE_VERSION,
            MasterUsername=MASTER_USERNAME,
            MasterUserPassword=secrets.token_urlsafe(24),
            DatabaseName="analytics",
            Port=DB_PORT,
            BackupRetentionPeriod=BACKUP_RETENTION_DAYS,
            DBSubnetGroupName=DB_SUBNET_GROUP,
            VpcSecurityGroupIds=[network["security_group_id"]],
            StorageEncrypted=True,
            KmsKeyId=kms_primary["arn"],
            Tags=_tags(environment="production", project=PROJECT, backstop_tier="weekly"),
        )["DBCluster"]
    analytics_instance = _ensure_instance(
        rds,
        ANALYTICS_INSTANCE,
        DBClusterIdentifier=ANALYTICS_CLUSTER,
        DBInstanceClass="db.r6g.large",
        Engine=AURORA_ENGINE,
        DBSubnetGroupName=DB_SUBNET_GROUP,
        Tags=_tags(environment="production", project=PROJECT, backstop_tier="weekly"),
    )

    from include.local.resilience_fleet import seed_resilience  # staging Multi-AZ DB, ECS services

    resilience = seed_resilience(lambda service, region: _client(service, endpoint_url, region), common)

    s3_primary = _client("s3", endpoint_url, PRIMARY_REGION)
    bucket_arn = _ensure_bucket(s3_primary, REPORT_BUCKET, PRIMARY_REGION)
    buckets = {REPORT_BUCKET: bucket_arn}
    buckets[TERRAFORM_BACKEND_BUCKET] = _ensure_bucket(
        s3_primary, TERRAFORM_BACKEND_BUCKET, PRIMARY_REGION, "terraform-backend"
    )
    buckets[TFSTATE_VAULT_BUCKET] = _ensure_lock_bucket(
        s3_primary, TFSTATE_VAULT_BUCKET, PRIMARY_REGION, "backstop-tfstate-vault"
    )
    buckets[TFSTATE_DR_VAULT_BUCKET] = _ensure_lock_bucket(
        _client("s3", endpoint_url, DR_REGION),
        TFSTATE_DR_VAULT_BUCKET,
        DR_REGION,
        "backstop-tfstate-vault-dr",
    )

    dynamodb = seed_dynamodb(
        lambda service, region: _client(service, endpoint_url, region), PRIMARY_REGION, DR_REGION, PROJECT
    )

    from include.local.fleet_datastores import seed_datastores

    datastores = seed_datastores(
        lambda service, region: _client(service, endpoint_url, region), PRIMARY_REGION, PROJECT, DR_REGION
    )

    from include.local.bunker_fleet import seed_bunker  # the second account: the backup account

    bunker = seed_bunker(
        endpoint_url,
        lambda service, region: _client(service, endpoint_url, region),
        [PRIMARY_REGION],
        kms_primary,
    )

    return {
        "bunker": bunker,
        "dynamodb": dynamodb,
        "datastores": datastores,
        "endpoint_url": endpoint_url,
        "primary_region": PRIMARY_REGION,
        "dr_region": DR_REGION,
        "kms_keys": {PRIMARY_REGION: kms_primary, DR_REGION: kms_dr},
        "network": {**network, "db_subnet_group": DB_SUBNET_GROUP},
        "dr_network": {**dr_network, "db_subnet_group": DB_SUBNET_GROUP},
        "db_parameter_group": DB_PARAMETER_GROUP,
        "db_instances": {
            PRODUCTION_DB: _instance_summary(production),
            STAGING_DB: _instance_summary(staging),
        },
        "db_clusters": {
            ANALYTICS_CLUSTER: {
                "identifier": cluster["DBClusterIdentifier"],
                "arn": cluster.get("DBClusterArn"),
                "engine": f"{cluster.get('Engine')} {cluster.get('EngineVersion')}",
                "members": [ANALYTICS_INSTANCE],
                "instance_arn": analytics_instance.get("DBInstanceArn"),
            }
        },
        "buckets": buckets,
        "secrets": {DB_MASTER_SECRET: secret_arn},
        "resilience": resilience,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Short human-readable rendering of a ``seed_fleet`` summary."""
    lines = [f"fleet seeded at {summary['endpoint_url']}"]
    for region, key in summary["kms_keys"].items():
        lines.append(f"  kms   {region:15} {key['alias']:22} {key['key_id']}")
    for name, db in summary["db_instances"].items():
        lines.append(
            f"  rds   {name:32} {db['class']:14} {db['engine']:14}"
            f" multi_az={db['multi_az']} encrypted={db['encrypted']}"
        )
    for name, cluster in summary["db_clusters"].items():
        lines.append(f"  aurora {name:31} {cluster['engine']}")
    for name in summary["buckets"]:
        lines.append(f"  s3    {name}")
    for name in summary["secrets"]:
        lines.append(f"  secret {name}")
    return "\n".join(lines)
