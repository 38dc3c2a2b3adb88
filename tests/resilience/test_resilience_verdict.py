"""The pure verdicts and summaries of the resilience drills (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backstop.resilience import verdict
from backstop.resilience.evidence import jsonable, summary_text
from backstop.resilience.verdict import ProbeSample

T0 = datetime(2026, 11, 8, 3, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def probes(*oks: bool) -> list[ProbeSample]:
    return [ProbeSample(at(i), ok, None if ok else "refused") for i, ok in enumerate(oks)]


EVENTS = [
    {"Date": at(1), "Message": "Multi-AZ instance failover started.", "EventCategories": ["failover"]},
    {"Date": at(40), "Message": "Multi-AZ instance failover completed.", "EventCategories": ["failover"]},
]


def _failover(**changes):
    args = {
        "before_az": "ap-northeast-2a",
        "after_az": "ap-northeast-2c",
        "requested_at": at(0),
        "available_at": at(94),
        "events": EVENTS,
        "client": verdict.client_view(probes(True, False, False, True, True)),
        "target_seconds": 180,
        "max_downtime_seconds": 180,
    }
    return verdict.judge_failover(**{**args, **changes})


def test_client_downtime_runs_from_the_first_failure_to_the_first_success_after_the_last():
    view = verdict.client_view(probes(True, False, True, False, False, True, True))
    assert (view.failures, view.downtime_seconds, view.recovered) == (3, 4.0, True)
    assert verdict.client_view(probes(True, True)).downtime_seconds == 0
    never = verdict.client_view(probes(True, False, False))
    assert never.recovered is False and never.downtime_seconds == 1.0


def test_a_failover_to_the_other_az_within_target_passes_with_both_figures():
    result = _failover()
    assert result["passed"] is True and result["failures"] == []
    assert (result["failover_seconds"], result["client_downtime_seconds"], result["event_seconds"]) == (
        94,
        2,
        39,
    )
    report = {"kind": "failover", "name": "db", "resource": "x", **jsonable(result)}
    text = summary_text(report)
    assert "PASSED" in text and "failover 94.0s" in text and "client downtime 2.0s" in text


def test_a_failover_in_the_same_az_did_not_happen_however_fast():
    result = _failover(after_az="ap-northeast-2a", events=[])
    assert result["passed"] is False
    assert result["failures"] == [
        "the failover did not happen: the instance is still in ap-northeast-2a (no failover event recorded)"
    ]


def test_a_cluster_failover_counts_by_the_writer_not_the_az():
    """Two Aurora members may share an AZ: a new writer there is a failover; the same writer is not."""
    same_az = _failover(after_az="ap-northeast-2a", writer_before="db-1", writer_after="db-2")
    assert same_az["passed"] is True and same_az["writer_changed"] is True
    stayed = _failover(writer_before="db-1", writer_after="db-1", events=[])
    assert stayed["passed"] is False and stayed["writer_changed"] is False
    assert stayed["failures"] == [
        "the failover did not happen: the writer is still db-1 (no failover event recorded)"
    ]
    report = {"kind": "failover", "name": "aurora", "resource": "c", **jsonable(same_az)}
    assert "c writer db-1 (ap-northeast-2a) -> db-2 (ap-northeast-2a);" in summary_text(report)
    assert "writer_before" not in _failover()  # instances report no writer


def test_slow_failover_long_downtime_no_recovery_and_failed_checks_each_fail():
    assert "failover took 200.0s, target 180s" in _failover(available_at=at(200))["failures"]
    slow_client = verdict.client_view(probes(True, *[False] * 200, True))
    assert "client downtime 200.0s exceeds 180s" in _failover(client=slow_client)["failures"]
    lost = verdict.client_view(probes(True, False))
    assert "the probe did not succeed again after the failover" in _failover(client=lost)["failures"]
    timed_out = _failover(available_at=None)["failures"]
    assert "the instance was not available again before the drill's timeout" in timed_out
    failed_check = {"name": "rows", "passed": False, "message": "observed 0"}
    assert "check rows: observed 0" in _failover(checks=[failed_check])["failures"]


def test_task_loss_recovery_against_target():
    ok = verdict.judge_task_loss(
        stopped_at=at(0), recovered_at=at(75), wait_status="success", wait_message="", target_seconds=180
    )
    assert ok["passed"] and ok["recovery_seconds"] == 75
    slow = verdict.judge_task_loss(
        stopped_at=at(0), recovered_at=at(200), wait_status="success", wait_message="", target_seconds=180
    )
    assert slow["failures"] == ["recovery took 200.0s, target 180s"]
    never = verdict.judge_task_loss(
        stopped_at=at(0), recovered_at=None, wait_status="timeout", wait_message="1 of 2", target_seconds=180
    )
    assert never["recovery_seconds"] is None and "did not recover (timeout): 1 of 2" in never["failures"][0]
    tg = "target group triflow-staging-backend has 1 of 2 target(s) healthy; 10.0.0.1:80 unhealthy"
    unhealthy = verdict.judge_task_loss(
        stopped_at=at(0),
        recovered_at=None,
        wait_status="timeout",
        wait_message="gave up",
        target_seconds=180,
        target_group_problem=tg,
        service_whole=True,
    )
    assert unhealthy["recovery_seconds"] is None
    assert unhealthy["failures"] == [
        f"the tasks are back but the load balancer never saw them healthy (timeout): {tg}"
    ]
    both = verdict.judge_task_loss(
        stopped_at=at(0),
        recovered_at=None,
        wait_status="timeout",
        wait_message="1 of 2",
        target_seconds=180,
        target_group_problem=tg,
    )
    assert both["failures"] == ["the service did not recover (timeout): 1 of 2", tg]


def test_rebuild_verdict_names_drift_failed_restore_leftover_and_time():
    args = {
        "state": {"drift": []},
        "restore": {"passed": True},
        "deleted": {"deleted": True},
        "started_at": at(0),
        "finished_at": at(600),
        "target_seconds": 14400,
    }
    assert verdict.judge_rebuild(**args)["passed"] is True
    bad = verdict.judge_rebuild(
        **{
            **args,
            "state": {"drift": [{"address": "terraform_data.app", "actions": ["update"]}]},
            "restore": {"passed": False, "failures": ["check x"]},
            "deleted": None,
            "finished_at": at(20000),
        }
    )
    assert bad["failures"] == [
        "terraform plan shows drift against the restored state: terraform_data.app (update)",
        "the restored database failed verification: check x",
        "the drill instance was not confirmed deleted",
        "the rebuild took 20000s, target 14400s",
    ]
    assert "was not restored and planned" in verdict.judge_rebuild(**{**args, "state": None})["failures"][0]


def test_the_console_names_the_writers_of_a_cluster_failover_and_the_azs_of_an_instance_failover():
    from backstop.console.render import resilience_figures

    run = {"kind": "failover", "failover_seconds": 3.1, "client_downtime_seconds": 2.0}
    instance = resilience_figures({**run, "az_before": "ap-northeast-2a", "az_after": "ap-northeast-2c"})
    assert instance.endswith(", ap-northeast-2a → ap-northeast-2c")
    cluster = resilience_figures(
        {**run, "az_before": "2a", "az_after": "2c", "writer_before": "aurora-1", "writer_after": "aurora-2"}
    )
    assert cluster.endswith(", writer aurora-1 → aurora-2 (2a → 2c)")
