"""docker-compose.yaml, its production override and the Dockerfile, checked without a Docker daemon.

The compose files are validated against the Compose Specification's JSON schema as vendored
by check-jsonschema (its `check-compose-spec` hook; the schema file ships in the wheel with the
compose-spec licence). Beyond the schema: the services of Airflow's official 3.x compose file are
all here with healthchecks, the local stack only under the `local` profile, and the production
override leaves no emulator endpoint, dummy key or local data plane in any Airflow service.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
PROD = ROOT / "docker-compose.prod.yaml"
DOCKERFILE = ROOT / "Dockerfile"

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}
LONG_RUNNING = AIRFLOW_SERVICES - {"airflow-init"} | {"postgres", "redis"}
LOCAL_STACK = {"aws-emulator", "slack-recorder", "dataplane", "backstop-local-seed"}


def compose_schema() -> dict:
    from importlib.resources import files

    vendored = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(vendored.read_text(encoding="utf-8"))


def schema_errors(document: dict) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    )


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def merged(base: dict, override: dict) -> dict:
    """`docker compose -f base -f override` for what these files use: environment maps merge per key."""
    out = copy.deepcopy(base)
    for name, service in override.get("services", {}).items():
        target = out["services"].setdefault(name, {})
        for key, value in service.items():
            if key == "environment":
                target["environment"] = {**target.get("environment", {}), **value}
            else:
                target[key] = value
    return out


def test_the_compose_file_is_valid_against_the_compose_specification():
    assert schema_errors(load(COMPOSE)) == []


def test_the_production_override_is_valid_against_the_compose_specification():
    assert schema_errors(load(PROD)) == []
    assert schema_errors(merged(load(COMPOSE), load(PROD))) == []


def test_the_schema_check_catches_a_typo():
    """The check can fail: a misspelt healthcheck key is refused, naming the service."""
    document = load(COMPOSE)
    service = document["services"]["airflow-scheduler"]
    service["healthchek"] = service.pop("healthcheck")
    errors = schema_errors(document)
    assert any("services/airflow-scheduler" in e and "healthchek" in e for e in errors), errors


def test_the_official_topology_is_all_there_with_healthchecks():
    services = load(COMPOSE)["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis"} <= set(services)
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:@redis:6379/"), name
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert services[name]["build"]["dockerfile"] == "Dockerfile", name
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert "_AIRFLOW_DB_MIGRATE" in services["airflow-init"]["environment"]
    assert "include.local.settings pools" in "\n".join(services["airflow-init"]["command"])
    assert services["airflow-worker"]["deploy"]["replicas"] >= 2


def test_the_local_stack_is_only_under_the_local_profile():
    services = load(COMPOSE)["services"]
    for name in LOCAL_STACK:
        assert services[name].get("profiles") == ["local"], name
    for name in AIRFLOW_SERVICES | {"postgres", "redis"}:
        assert "local" not in services[name].get("profiles", []), name
    # The local connections name hosts that the local profile provides.
    env = services["airflow-scheduler"]["environment"]
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    slack = json.loads(env["AIRFLOW_CONN_SLACK_API_DEFAULT"])
    assert aws["extra"]["endpoint_url"].startswith("http://aws-emulator:")
    assert slack["extra"]["base_url"].startswith("http://slack-recorder:")
    assert json.loads(env["BACKSTOP_LOCAL_DATAPLANE"])["host"] == "dataplane"
    # The seed must finish before Airflow starts, but only where the local profile runs.
    seed_dep = services["airflow-init"]["depends_on"]["backstop-local-seed"]
    assert seed_dep == {"condition": "service_completed_successfully", "required": False}


def test_the_production_override_points_every_airflow_service_at_a_real_account():
    services = merged(load(COMPOSE), load(PROD))["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
        assert "endpoint_url" not in aws.get("extra", {}), name
        assert "login" not in aws and "password" not in aws, name  # the instance/task role, not keys
        assert env["BACKSTOP_LOCAL_DATAPLANE"] == "", name
        assert "SecretsManagerBackend" in env["AIRFLOW__SECRETS__BACKEND"], name
        assert "xoxb-local-recorder" not in env["AIRFLOW_CONN_SLACK_API_DEFAULT"], name
        assert "${AIRFLOW__CORE__FERNET_KEY:?" in env["AIRFLOW__CORE__FERNET_KEY"], name


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_dockerfile_builds_on_airflow_3_3_2_with_the_runtime_requirements_under_the_lock():
    instructions = _dockerfile_instructions()
    args = dict(value.split("=", 1) for op, value in instructions if op == "ARG" and "=" in value)
    assert args["AIRFLOW_IMAGE"] == "apache/airflow:3.3.2-python3.11"
    lock_header = (ROOT / "requirements-lock.txt").read_text(encoding="utf-8").splitlines()[:3]
    assert any("--python-version 3.11" in line for line in lock_header), lock_header
    runs = " ".join(value for op, value in instructions if op == "RUN")
    assert re.search(
        r"pip install .*-r /opt/backstop/requirements\.txt -c /opt/backstop/requirements-lock\.txt", runs
    )
    assert "requirements-dev" not in runs
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert f'"apache-airflow=={pinned}"' in runs
    copied = {value.split()[-2].rstrip("/") for op, value in instructions if op == "COPY"}
    assert {"dags", "plugins", "include", "airflow_settings.yaml"} <= copied


@pytest.mark.parametrize("path", [COMPOSE, PROD, DOCKERFILE])
def test_deploy_files_carry_no_real_secret(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert not re.search(r"xox[bp]-\d", text)
