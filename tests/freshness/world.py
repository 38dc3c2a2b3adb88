"""Managed snapshots and DR copies made the way Backstop makes them, for freshness tests."""

from __future__ import annotations

import boto3

PRIMARY, DR = "ap-northeast-2", "ap-northeast-1"
PROD, STAGING, ANALYTICS = "triflow-ai-production-db", "triflow-ai-staging-db", "triflow-ai-analytics"
BUCKET = "triflow-backstop-reports"


def managed(policy: str) -> list[dict[str, str]]:
    return [
        {"Key": "backstop:managed", "Value": "true"},
        {"Key": "backstop:policy", "Value": policy},
        {"Key": "backstop:tier", "Value": "weekly"},
    ]


class World:
    def __init__(self, endpoint_url: str) -> None:
        self.rds = boto3.client("rds", region_name=PRIMARY, endpoint_url=endpoint_url)
        self.rds_dr = boto3.client("rds", region_name=DR, endpoint_url=endpoint_url)
        self.s3 = boto3.client("s3", region_name=PRIMARY, endpoint_url=endpoint_url)

    def snapshot(self, db: str, name: str, policy: str = "triflow-rds-weekly") -> str:
        made = self.rds.create_db_snapshot(
            DBInstanceIdentifier=db, DBSnapshotIdentifier=name, Tags=managed(policy)
        )
        return made["DBSnapshot"]["DBSnapshotArn"]

    def copy_to_dr(self, arn: str, name: str, policy: str = "triflow-rds-weekly") -> None:
        self.rds_dr.copy_db_snapshot(
            SourceDBSnapshotIdentifier=arn,
            TargetDBSnapshotIdentifier=name,
            SourceRegion=PRIMARY,
            KmsKeyId="alias/backstop-dr",
            Tags=managed(policy),
        )

    def cluster_snapshot(self, cluster: str, name: str) -> None:
        self.rds.create_db_cluster_snapshot(
            DBClusterIdentifier=cluster,
            DBClusterSnapshotIdentifier=name,
            Tags=managed("triflow-aurora-weekly"),
        )

    def all_fresh_but_production_dr(self, day: str = "20261122") -> str:
        """Every resource backed up and copied, except production's copy to the DR region."""
        prod = self.snapshot(PROD, f"{PROD}-weekly-{day}")
        staging = self.snapshot(STAGING, f"{STAGING}-weekly-{day}")
        self.copy_to_dr(staging, f"{STAGING}-weekly-{day}")
        self.cluster_snapshot(ANALYTICS, f"{ANALYTICS}-weekly-{day}")
        return prod
