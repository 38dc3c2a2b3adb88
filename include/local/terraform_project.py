"""The demo Terraform project (include/terraform/demo) applied against the local emulator.

Used by the demo's Terraform scenarios and by tests/tfstate. The S3 backend settings,
including the emulator endpoint and dummy keys, are passed at `terraform init` time with
-backend-config (a file in a temporary TF_DATA_DIR folder), so nothing about the emulator is
committed in the .tf files and the repo stays clean. Needs the real `terraform` CLI (1.5+).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from include.local.settings import REPO_ROOT

DEMO_PROJECT = REPO_ROOT / "include" / "terraform" / "demo"
# Where the shipped policy's terraform_state project reads the state (include/backup_policy.yaml).
BACKEND_BUCKET = "triflow-terraform-state"
BACKEND_KEY = "infrastructure/terraform.tfstate"
REGION = "ap-northeast-2"


def backend_config(endpoint_url: str, bucket: str = BACKEND_BUCKET, key: str = BACKEND_KEY) -> dict[str, Any]:
    """-backend-config values pointing Terraform's S3 backend at the emulator."""
    return {
        "bucket": bucket,
        "key": key,
        "region": REGION,
        "endpoints": {"s3": endpoint_url},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_region_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "access_key": "testing",  # the emulator's dummy keys
        "secret_key": "testing",
    }


def apply_demo(
    endpoint_url: str,
    *,
    workspace: str = "default",
    release: str = "v1",
    db_password: str = "not-a-real-password",
    project_dir: Path = DEMO_PROJECT,
) -> None:
    """`terraform init` + `apply` of the demo project; its state lands in the emulated backend."""
    from backstop.tfstate.cli import Terraform

    with Terraform(project_dir, env={"AWS_EC2_METADATA_DISABLED": "true"}) as tf:
        tf.init(backend_config(endpoint_url))
        tf.apply(workspace=workspace, variables={"release": release, "db_password": db_password})


def s3_client(endpoint_url: str, region: str = REGION) -> Any:
    """A boto3 S3 client on the emulator (dummy keys: it can never reach a real account)."""
    import boto3

    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
