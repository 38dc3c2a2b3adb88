"""The `resilience:` policy section: the shipped drills, the environment guard, cross-references."""

from __future__ import annotations

import pytest

from backstop.policy import PolicyError, parse_policy
from backstop.policy.resilience_views import failover_specs, rebuild_specs, task_loss_specs
from tests.dag_loading import shipped_policy


def _problems(change) -> str:
    data = shipped_policy()
    change(data["resilience"])
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    return str(caught.value)


def test_the_shipped_drills_are_staging_only_and_resolved_for_the_dags():
    policy = parse_policy(shipped_policy())
    (failover,) = failover_specs(policy)
    (task_loss,) = task_loss_specs(policy)
    (rebuild,) = rebuild_specs(policy)
    assert failover.instance_id == "triflow-ai-staging-ha-db" and failover.target_seconds == 180
    assert failover.cluster_id is None and failover.resource == "triflow-ai-staging-ha-db"
    assert failover.guard.problem("x", {"environment": "staging"}) is None
    assert "environment=production" in failover.guard.problem("x", {"environment": "production"})
    assert "no environment tag" in failover.guard.problem("x", {})
    assert (task_loss.cluster, task_loss.allow_single_task) == ("triflow-ai-staging-cluster", False)
    assert rebuild.drill.kind == "dr_snapshot" and rebuild.target_seconds == 4 * 3600
    assert rebuild.project["name"] == "triflow-infra"


def test_the_allowed_environment_can_never_be_production():
    message = _problems(lambda r: r.update(allowed_environment="production"))
    assert "resilience.allowed_environment: " in message and "looks like production" in message


def test_other_sections_can_drop_their_drills_without_breaking_the_rebuild():
    data = shipped_policy()
    data["drills"] = []  # as tests and demo scenarios do: the rebuild carries its own restore
    assert rebuild_specs(parse_policy(data))[0].drill.kind == "dr_snapshot"


def test_cross_references_are_checked_with_key_paths():
    def change(section):
        section["schedule"] = "weekly-drill"
        section["rebuild"][0]["terraform_project"] = "nope"

    message = _problems(change)
    assert "resilience.schedule: 'weekly-drill' is not defined under 'schedules'" in message
    assert "resilience.rebuild[0].terraform_project: 'nope' is not a terraform_state project" in message


def test_a_rebuild_restores_a_dr_copy():
    message = _problems(lambda r: r["rebuild"][0]["restore"].update(kind="pitr"))
    assert "resilience.rebuild[0]: restore.kind is 'pitr'" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r["failover"][0]["probe"].update(credentials_conn_id="x"),
            "exactly one of credentials_secret",
        ),
        (lambda r: r["failover"][0].update(tagret="3m"), "tagret"),
        (
            lambda r: r["failover"][0].update(cluster="triflow-ai-staging-aurora"),
            "resilience.failover[0]: give exactly one of id (a Multi-AZ DB instance) or "
            "cluster (an Aurora DB cluster); both given",
        ),
        (lambda r: r["failover"][0].pop("id"), "give exactly one of id"),
        (
            lambda r: r["failover"][0].update(id=None, cluster="Bad_Cluster!"),
            "resilience.failover[0].cluster",
        ),
        (lambda r: r["failover"][0]["probe"].update(interval="2m"), "too coarse"),
        (lambda r: r["task_loss"][0].update(service="../etc"), "ECS cluster or service name"),
        (lambda r: r["rebuild"][0].update(config_dir="../elsewhere"), "no '..' segment"),
        (lambda r: r["task_loss"][0].update(name="staging-db-failover"), "unique"),
    ],
)
def test_bad_drills_are_refused_naming_the_key(change, expected):
    assert expected in _problems(change)


def test_quarterly_rebuild_fires_on_first_saturdays_of_the_quarter():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from croniter import croniter

    policy = parse_policy(shipped_policy())
    cron = policy.schedules[policy.resilience.rebuild_schedule].cron
    it = croniter(cron, datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Seoul")))
    fires = [it.get_next(datetime) for _ in range(4)]
    assert [(f.month, f.weekday(), f.hour) for f in fires] == [(1, 5, 2), (4, 5, 2), (7, 5, 2), (10, 5, 2)]
    assert all(f.day <= 7 for f in fires)


def test_a_failover_drill_may_name_an_aurora_cluster_instead():
    data = shipped_policy()
    drill = data["resilience"]["failover"][0]
    drill.pop("id")
    drill["cluster"] = "triflow-ai-staging-aurora"
    (failover,) = failover_specs(parse_policy(data))
    assert (failover.instance_id, failover.cluster_id) == (None, "triflow-ai-staging-aurora")
    assert failover.resource == "triflow-ai-staging-aurora"
