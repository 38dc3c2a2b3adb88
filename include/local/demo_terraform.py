"""Demo scenarios for the Terraform state pipeline (terraform_state_backup).

The demo project is applied with include/local/terraform_project.py (shared with the tests).
"""

from __future__ import annotations

import json
from typing import Any

from include.local import terraform_project
from include.local.demo import Demo, Scenario
from include.local.terraform_project import BACKEND_BUCKET, BACKEND_KEY, REGION, apply_demo

VAULT = "triflow-backstop-tfstate-vault"
DR_VAULT = "triflow-backstop-tfstate-vault-dr"
DR_REGION = "ap-northeast-1"


def s3_client(demo_or_endpoint: Demo | str, region: str = REGION) -> Any:
    endpoint = (
        demo_or_endpoint if isinstance(demo_or_endpoint, str) else demo_or_endpoint.stack.aws_endpoint_url
    )
    return terraform_project.s3_client(endpoint, region)


def vault_listing(endpoint_url: str, bucket: str, region: str) -> list[dict[str, Any]]:
    """Every object version in a vault with its lock (no content is read except manifests)."""
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


# --- scenarios ---------------------------------------------------------------------------


def before_first(demo: Demo, scenario: Scenario) -> list[str]:
    endpoint = demo.stack.aws_endpoint_url
    apply_demo(endpoint, release="v1")
    apply_demo(endpoint, workspace="staging", release="v1-rc")
    return [
        "terraform apply include/terraform/demo (workspaces default and staging): state in "
        f"s3://{BACKEND_BUCKET}/{BACKEND_KEY} and s3://{BACKEND_BUCKET}/env:/staging/{BACKEND_KEY}"
    ]


def before_change(demo: Demo, scenario: Scenario) -> list[str]:
    apply_demo(demo.stack.aws_endpoint_url, release="v2")
    return ["terraform apply with release=v2 (default workspace): the serial goes up"]


def before_rollback(demo: Demo, scenario: Scenario) -> list[str]:
    """Put the v1 state (an older serial) back into the backend, as a careless `state push` would."""
    s3 = s3_client(demo)
    versions = s3.list_object_versions(Bucket=BACKEND_BUCKET, Prefix=BACKEND_KEY)["Versions"]
    serials = []
    for v in versions:
        body = s3.get_object(Bucket=BACKEND_BUCKET, Key=BACKEND_KEY, VersionId=v["VersionId"])["Body"].read()
        serials.append((json.loads(body)["serial"], body))
    serials.sort(key=lambda item: item[0])
    s3.put_object(Bucket=BACKEND_BUCKET, Key=BACKEND_KEY, Body=serials[0][1])
    return [f"put an older state (serial {serials[0][0]}) back at s3://{BACKEND_BUCKET}/{BACKEND_KEY}"]


def summarize(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
    lines = [f"{'workspace':26} {'state':8} {'action':10} {'serial':>6}  reason"]
    for row in sorted(result["tasks"], key=lambda r: (r["task_id"], r["map_index"])):
        if row["task_id"] != "backup":
            continue
        x = row["xcom"] if isinstance(row["xcom"], dict) else {}
        lines.append(
            f"{row['label'] or '?':26} {row['state']:8} {x.get('action', '-'):10} "
            f"{x.get('serial', '-')!s:>6}  {x.get('reason', '-')}"
        )
    endpoint = demo.stack.aws_endpoint_url
    for bucket, region in ((VAULT, REGION), (DR_VAULT, DR_REGION)):
        lines.append(f"vault s3://{bucket} ({region}):")
        for r in vault_listing(endpoint, bucket, region):
            mark = "*" if r["latest"] else " "
            lines.append(f"  {mark} {r['key']:70} {r['size']:6} B  {r['lock']:28} {r['sse']}")
    s3 = s3_client(demo)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=VAULT):
        for item in page.get("Contents", []):
            if item["Key"].endswith("manifest.json"):
                m = json.loads(s3.get_object(Bucket=VAULT, Key=item["Key"])["Body"].read())
                lines.append(
                    f"manifest {m['project']}/{m['workspace']}: serial {m['serial']}, lineage {m['lineage'][:8]}.., "
                    f"terraform {m['terraform_version']}, {m['resource_count']} resources, sha256 {m['sha256'][:16]}.."
                )
    return lines


def expect_backup(actions: dict[str, str], alerts: list[str] | None = None):
    def check(demo: Demo, scenario: Scenario, result: dict) -> list[str]:
        problems = []
        got = {
            r["label"]: (r["xcom"] or {}).get("action") if isinstance(r["xcom"], dict) else r["state"]
            for r in result["tasks"]
            if r["task_id"] == "backup"
        }
        for label, action in actions.items():
            if got.get(label) != action:
                problems.append(f"{label}: expected {action}, got {got.get(label)}")
        texts = [m["text"] for m in result["slack"]]
        wanted = alerts or []
        if len(texts) != len(wanted) or any(w not in t for w, t in zip(wanted, texts, strict=False)):
            problems.append(f"expected Slack alerts {wanted}, got {texts}")
        return problems

    return check


SCENARIOS = [
    Scenario(
        title="terraform_state_backup: the daily 02:00 KST run after `terraform apply`",
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
