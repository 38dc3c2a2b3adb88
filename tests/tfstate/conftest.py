"""Fixtures for the Terraform state tests: the real terraform CLI against the moto server."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "triflow-infra"
BACKEND_BUCKET = "triflow-terraform-state"
BACKEND_KEY = "infrastructure/terraform.tfstate"

requires_terraform = pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="the terraform CLI (1.5+) is not on PATH; install it from "
    "https://developer.hashicorp.com/terraform/install to run the Terraform state tests",
)


class TfWorld:
    """The emulated account seen from a test: clients, terraform apply, direct backups."""

    def restore_request(self, **overrides) -> dict:
        """A restore form for the default workspace's latest backup to a local file, as changed."""
        return {
            "project": PROJECT,
            "source": self.source,
            "workspace": "default",
            "date": "latest",
            "destination": "local_path",
            "local_path": "",
            "force": False,
            **overrides,
        }

    def __init__(self, endpoint_url: str) -> None:
        from include.local.terraform_project import s3_client

        self.endpoint_url = endpoint_url
        self.s3 = s3_client(endpoint_url)
        self.s3_dr = s3_client(endpoint_url, "ap-northeast-1")
        from backstop.policy import parse_policy
        from tests.dag_loading import shipped_policy

        self.policy = parse_policy(shipped_policy())
        self.vault = self.policy.terraform_state.vault.model_dump()
        self.source = self.policy.terraform_state.projects[0].source.model_dump()

    def apply(self, workspace: str = "default", release: str = "v1", password: str = "pw") -> bytes:
        from include.local.terraform_project import apply_demo

        apply_demo(self.endpoint_url, workspace=workspace, release=release, db_password=password)
        return self.backend_bytes(workspace)

    def backend_key(self, workspace: str = "default") -> str:
        from backstop.tfstate.sources import backend_key

        return backend_key(self.source, workspace)

    def backend_bytes(self, workspace: str = "default") -> bytes:
        return self.s3.get_object(Bucket=BACKEND_BUCKET, Key=self.backend_key(workspace))["Body"].read()

    def put_backend(self, data: bytes, workspace: str = "default") -> None:
        self.s3.put_object(Bucket=BACKEND_BUCKET, Key=self.backend_key(workspace), Body=data)

    def backup(
        self,
        workspace: str = "default",
        day: date = date(2026, 11, 20),
        run_id: str = "test",
        vault: dict | None = None,
    ) -> dict:
        """What one mapped `backup` task does, called directly (no Airflow)."""
        from backstop.tfstate.backup import backup_state
        from backstop.tfstate.sources import describe, read_s3_backend
        from backstop.tfstate.state import parse_state

        data = read_s3_backend(self.s3, self.source, workspace)
        return backup_state(
            data,
            parse_state(data),
            primary=self.s3,
            dr=self.s3_dr,
            vault_settings=vault or self.vault,
            project=PROJECT,
            workspace=workspace,
            source=describe(self.source, workspace),
            day=day,
            run_id=run_id,
            tier="daily",
        )

    def latest_manifest(
        self, workspace: str = "default", client: Any = None, bucket: str | None = None
    ) -> dict:
        from backstop.tfstate.vault import latest_manifest

        return latest_manifest(
            client or self.s3, bucket or self.vault["bucket"], self.vault["prefix"], PROJECT, workspace
        )

    def versions(self, bucket: str | None = None, region_client: Any = None) -> list[dict]:
        client = region_client or self.s3
        bucket = bucket or self.vault["bucket"]
        return client.list_object_versions(Bucket=bucket).get("Versions", [])


@pytest.fixture
def tf_world(fleet, local_stack):
    """A reset emulated account (fleet + backend and vault buckets) and the test helpers."""
    return TfWorld(local_stack.aws_endpoint_url)
