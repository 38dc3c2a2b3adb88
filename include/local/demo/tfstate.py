"""Demo scenarios for the Terraform state pipeline (terraform_state_backup).

The demo project (include/terraform/demo) is applied against the emulator with
include/local/terraform_project.py, which the tests use too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from include.local.demo.scenario import Lines, RunResult, Scenario, World, as_dict
from include.local.terraform_project import BACKEND_BUCKET, BACKEND_KEY, REGION, apply_demo, s3_client

VAULT = "triflow-backstop-tfstate-vault"
DR_VAULT = "triflow-backstop-tfstate-vault-dr"
DR_REGION = "ap-northeast-1"


def vault_listing(endpoint_url: str, bucket: str, region: str) -> list[dict[str, Any]]:
    """Every object version in a vault with its lock (no content is read)."""
    s3 = s3_client(endpoint_url, region)
    rows = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            head = s3.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
            rows.append(
                {
                    "key": v["Key"],
                    "version": v["VersionId"],
                    "latest": v["IsLatest"],
                    "size": v["Size"],
                    "lock": f"{head.get('ObjectLockMode', '-')} until "
                    f"{head['ObjectLockRetainUntilDate']:%Y-%m-%d}"
                    if head.get("ObjectLockRetainUntilDate")
                    else "-",
                    "sse": head.get("ServerSideEncryption", "-"),
                }
            )
    return sorted(rows, key=lambda r: (r["key"], not r["latest"]))


# --- before hooks ----------------------------------------------------------------------------


def before_first(world: World) -> Lines:
    apply_demo(world.aws_endpoint_url, release="v1")
    apply_demo(world.aws_endpoint_url, workspace="staging", release="v1-rc")
    return [
        "terraform apply include/terraform/demo (workspaces default and staging): state in "
        f"s3://{BACKEND_BUCKET}/{BACKEND_KEY} and s3://{BACKEND_BUCKET}/env:/staging/{BACKEND_KEY}"
    ]


def before_change(world: World) -> Lines:
    apply_demo(world.aws_endpoint_url, release="v2")
    return ["terraform apply with release=v2 (default workspace): the serial goes up"]


def before_rollback(world: World) -> Lines:
    """Put the v1 state (an older serial) back into the backend, as a careless `state push` would."""
    s3 = s3_client(world.aws_endpoint_url)
    versions = s3.list_object_versions(Bucket=BACKEND_BUCKET, Prefix=BACKEND_KEY)["Versions"]
    serials = []
    for v in versions:
        body = s3.get_object(Bucket=BACKEND_BUCKET, Key=BACKEND_KEY, VersionId=v["VersionId"])["Body"].read()
        serials.append((json.loads(body)["serial"], body))
    serials.sort(key=lambda item: item[0])
    s3.put_object(Bucket=BACKEND_BUCKET, Key=BACKEND_KEY, Body=serials[0][1])
    return [f"put an older state (serial {serials[0][0]}) back at s3://{BACKEND_BUCKET}/{BACKEND_KEY}"]


# --- summary and checks -------------------------------------------------------------------------


def summarize(world: World, result: RunResult) -> Lines:
    lines = [f"{'workspace':26} {'state':8} {'action':10} {'serial':>6}  reason"]
    for row in result.rows("backup"):
        x = as_dict(row.xcom)
        lines.append(
            f"{row.label or '?':26} {row.state:8} {x.get('action', '-'):10} "
            f"{x.get('serial', '-')!s:>6}  {x.get('reason', '-')}"
        )
    for bucket, region in ((VAULT, REGION), (DR_VAULT, DR_REGION)):
        lines.append(f"vault s3://{bucket} ({region}):")
        for r in vault_listing(world.aws_endpoint_url, bucket, region):
            mark = "*" if r["latest"] else " "
            lines.append(f"  {mark} {r['key']:70} {r['size']:6} B  {r['lock']:28} {r['sse']}")
    s3 = s3_client(world.aws_endpoint_url)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=VAULT):
        for item in page.get("Contents", []):
            if item["Key"].endswith("manifest.json"):
                m = json.loads(s3.get_object(Bucket=VAULT, Key=item["Key"])["Body"].read())
                lines.append(
                    f"manifest {m['project']}/{m['workspace']}: serial {m['serial']}, lineage {m['lineage'][:8]}.., "
                    f"terraform {m['terraform_version']}, {m['resource_count']} resources, sha256 {m['sha256'][:16]}.."
                )
    return lines


def expect_backup(
    actions: dict[str, str], alerts: list[str] | None = None
) -> Callable[[World, RunResult], Lines]:
    def check(world: World, result: RunResult) -> Lines:
        problems = []
        # a task that returned a result: its action; one that failed: its state
        got = {
            r.label: r.xcom.get("action") if isinstance(r.xcom, dict) else r.state
            for r in result.rows("backup")
        }
        for label, action in actions.items():
            if got.get(label) != action:
                problems.append(f"{label}: expected {action}, got {got.get(label)}")
        texts = [m["text"] for m in result.slack]
        wanted = alerts or []
        if len(texts) != len(wanted) or any(w not in t for w, t in zip(wanted, texts, strict=False)):
            problems.append(f"expected Slack alerts {wanted}, got {texts}")
        return problems

    return check


SCENARIOS = [
    Scenario(
        title="terraform_state_backup: the daily 02:00 KST run after `terraform apply`",
        dag_file="terraform_state_backup.py",
        dag_id="terraform_state_backup",
        expect_state="success",
        schedule="daily",
        explain="Applies include/terraform/demo (two workspaces) against the emulator, then backs up both "
        "states: locked (Object Lock), KMS-encrypted, with SHA-256 and manifest, copied to the DR vault.",
        before=before_first,
        summarize=summarize,
        checks=expect_backup({"triflow-infra/default": "created", "triflow-infra/staging": "created"}),
    ),
    Scenario(
        title="terraform_state_backup again after a second apply (default changed, staging not)",
        dag_file="terraform_state_backup.py",
        dag_id="terraform_state_backup",
        expect_state="success",
        schedule="daily",
        explain="The default workspace's serial went up: a new backup (same day, so a new locked version of "
        "the same keys). staging is unchanged: checked, nothing written.",
        before=before_change,
        summarize=summarize,
        checks=expect_backup({"triflow-infra/default": "created", "triflow-infra/staging": "unchanged"}),
    ),
    Scenario(
        title="terraform_state_backup after someone put an older state back",
        dag_file="terraform_state_backup.py",
        dag_id="terraform_state_backup",
        expect_state="failed",
        schedule="daily",
        explain="The backend now holds a lower serial than the last backup: the backup task fails with "
        "'state rollback' and Slack gets exactly one alert; nothing is written.",
        before=before_rollback,
        summarize=summarize,
        checks=expect_backup({"triflow-infra/staging": "unchanged"}, alerts=["state rollback"]),
    ),
]
