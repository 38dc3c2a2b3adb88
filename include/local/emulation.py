"""The control plane moto leaves out, emulated beside it: failovers and the ECS service scheduler.

EMULATION, local stack only. moto accepts `RebootDBInstance(ForceFailover=true)` but does not
move the instance, writes no failover events and causes no outage; it also runs no ECS service
scheduler (a stopped task is never replaced) and ignores `ListTasks(serviceName=...)`. The
resilience drills (backstop.resilience) need all of that to measure anything, so the local
stack starts moto through this module (`python -m include.local.emulation -H host -p port`),
which adds, inside the moto server process:

- **Failover**: a forced-failover reboot of a Multi-AZ instance sets it `rebooting`, records
  "Multi-AZ instance failover started.", makes the instance's emulated database refuse
  connections for `outage_seconds` (the data plane, when one is configured), and after
  `failover_seconds` moves it to its other AZ, `available`, with "Multi-AZ instance failover
  completed." A forced failover of a single-AZ instance is refused, as on AWS.
- **Aurora cluster failover**: moto's `FailoverDBCluster` already makes a reader the writer (at
  once) but leaves the cluster `available`, records no events and causes no outage. The
  emulation adds the rest: the cluster is `failing-over` for `failover_seconds` with "Started
  cross AZ failover to DB instance: <new writer>" and then "Completed failover to DB instance:
  <new writer>" (RDS-EVENT-0072/0071), and the cluster's emulated database refuses connections
  for `outage_seconds`.
- **ECS scheduler**: stopping a task of a service lowers the service's running count and,
  after `replace_after_seconds`, starts a replacement task (same group and task definition);
  `ListTasks(serviceName=...)` filters by the service's group.
- **Load balancer targets**: moto's ECS registers no task in its service's target groups (and
  moto's ELBv2 calls every registered target `healthy` at once). For a service with
  `loadBalancers`, the emulated scheduler marks the stopped task's target `draining` (gone after
  `drain_seconds`) and registers the replacement's target (`task_target_ip(task)`, the
  container port) `initial`, then `healthy` after `healthy_after_seconds`.

Switches make it misbehave, for the failing tests and the demo's failing scenario:
`failover: "no-az-change"` (the reboot happens, the instance stays in its AZ, no failover
events), `target_health: "stays-unhealthy"` (a replacement's target never passes its
health checks), `cluster_failover: "writer-unchanged"` (the cluster goes `failing-over` and back, moto's
writer flip is undone, no failover events) and `task_loss: "never-replace"`. Settings are posted as JSON to `CONTROL_PATH` on the
moto endpoint (`configure(endpoint_url, ...)`); `/moto-api/reset` resets them too.

Backstop's library code is not aware of any of this: it makes the same calls as on AWS.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

CONTROL_PATH = "/_backstop_emulation/config"
DEFAULTS: dict[str, Any] = {
    "failover": "ok",  # or "no-az-change"
    "cluster_failover": "ok",  # or "writer-unchanged"
    "failover_seconds": 3.0,  # rebooting -> available in the other AZ
    "outage_seconds": 2.0,  # the instance's database refuses connections this long
    "task_loss": "ok",  # or "never-replace"
    "replace_after_seconds": 2.0,  # a stopped service task is replaced after this long
    "target_health": "ok",  # or "stays-unhealthy"
    "healthy_after_seconds": 2.0,  # a replacement's target: initial -> healthy after this long
    "drain_seconds": 10.0,  # a stopped task's target drains this long, then is deregistered
    "dataplane_admin_dsn": None,  # the local data plane's admin DSN (include.local.dataplane)
}

log = logging.getLogger("backstop.emulation")


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings = dict(DEFAULTS)
        self.timers: list[threading.Timer] = []
        # (target group ARN, target id) -> (state, since monotonic) of targets the scheduler touched
        self.targets: dict[tuple[str, str], tuple[str, float]] = {}

    def reset(self) -> None:
        with self.lock:
            for timer in self.timers:
                timer.cancel()
            self.timers = []
            self.targets = {}
            self.settings = dict(DEFAULTS)

    def later(self, seconds: float, action: Any) -> None:
        timer = threading.Timer(max(0.0, float(seconds)), action)
        timer.daemon = True
        with self.lock:
            self.timers.append(timer)
        timer.start()


STATE = _State()


# --- client side (tests, demo) ------------------------------------------------------------


def configure(endpoint_url: str, **settings: Any) -> dict[str, Any]:
    """Change the emulation's settings on a running stack; returns them all."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown emulation settings {unknown}; known: {sorted(DEFAULTS)}")
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + CONTROL_PATH,
        data=json.dumps(settings).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# --- failover ----------------------------------------------------------------------------

FAILOVER_EVENTS = {
    "BACKSTOP_EMULATED_FAILOVER_STARTED": {
        "Categories": ["failover"],
        "Message": "Multi-AZ instance failover started.",
    },
    "BACKSTOP_EMULATED_FAILOVER_COMPLETED": {
        "Categories": ["failover"],
        "Message": "Multi-AZ instance failover completed.",
    },
    "BACKSTOP_EMULATED_REBOOT": {"Categories": ["availability"], "Message": "DB instance restarted"},
}


def _other_az(az: str) -> str:
    return az[:-1] + ("c" if az.endswith("a") else "a")


def _database_name(instance: Any) -> str:
    from backstop.drills.dataplane import clone_name

    return clone_name(instance.db_instance_identifier, instance.region)


def _dataplane_outage(name: str, seconds: float) -> None:
    """Refuse connections to the emulated database `name`, then allow them again."""
    dsn = STATE.settings.get("dataplane_admin_dsn")
    if not dsn or seconds <= 0:
        return
    import psycopg

    quoted = '"' + name.replace('"', '""') + '"'

    def allow(flag: bool) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                    return
                conn.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS {str(flag).lower()}")
                if not flag:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                    )
        except Exception as exc:  # emulation trouble must not take the moto server down
            log.error("data plane outage emulation for %s failed: %s", name, exc)

    allow(False)
    STATE.later(seconds, lambda: allow(True))


def _emulate_failover(instance: Any) -> None:
    settings = dict(STATE.settings)
    instance.status = "rebooting"
    honest = settings["failover"] != "no-az-change"
    if honest:
        instance.add_event("BACKSTOP_EMULATED_FAILOVER_STARTED")
    _dataplane_outage(_database_name(instance), float(settings["outage_seconds"]))

    def complete() -> None:
        if honest:
            instance.availability_zone = _other_az(instance.availability_zone)
            instance.add_event("BACKSTOP_EMULATED_FAILOVER_COMPLETED")
        else:
            instance.add_event("BACKSTOP_EMULATED_REBOOT")
        instance.status = "available"

    STATE.later(float(settings["failover_seconds"]), complete)


def _patch_rds() -> None:
    from moto.rds import models, responses
    from moto.rds.exceptions import InvalidParameterCombination

    models.Event.EVENT_MAP.update(FAILOVER_EVENTS)
    original = responses.RDSResponse.reboot_db_instance

    def reboot_db_instance(self: Any) -> Any:
        force = str(self.params.get("ForceFailover", "false")).lower() == "true"
        if not force:
            return original(self)
        instance = self.backend.describe_db_instances(self.params.get("DBInstanceIdentifier"))[0]
        if not instance.multi_az:
            raise InvalidParameterCombination("Cannot reboot with failover a non Multi-AZ DB instance")
        result = original(self)
        _emulate_failover(instance)
        return result

    responses.RDSResponse.reboot_db_instance = reboot_db_instance
    _patch_cluster_failover(models, responses)


def _cluster_event(cluster: Any, message: str) -> None:
    """An RDS event of source type db-cluster (moto's clusters record none)."""
    from types import SimpleNamespace

    source = SimpleNamespace(
        resource_id=cluster.db_cluster_identifier, event_source_type="db-cluster", arn=cluster.db_cluster_arn
    )
    cluster.backend.add_event("BACKSTOP_EMULATED_CLUSTER_FAILOVER", source)
    cluster.backend.events[-1].message = message


def _emulate_cluster_failover(cluster: Any, old_writer: Any) -> None:
    from backstop.drills.dataplane import clone_name

    settings = dict(STATE.settings)
    honest = settings["cluster_failover"] != "writer-unchanged"
    new_writer = cluster.writer
    if not honest and old_writer is not None and new_writer is not old_writer:
        new_writer.is_cluster_writer = False  # undo moto's flip: the writer stays where it was
        old_writer.is_cluster_writer = True
    target = cluster.writer.db_instance_identifier
    cluster.status = "failing-over"
    if honest:
        _cluster_event(cluster, f"Started cross AZ failover to DB instance: {target}")
    _dataplane_outage(
        clone_name(cluster.db_cluster_identifier, cluster.region), float(settings["outage_seconds"])
    )

    def complete() -> None:
        if honest:
            _cluster_event(cluster, f"Completed failover to DB instance: {target}")
        cluster.status = "available"

    STATE.later(float(settings["failover_seconds"]), complete)


def _patch_cluster_failover(models: Any, responses: Any) -> None:
    models.Event.EVENT_MAP["BACKSTOP_EMULATED_CLUSTER_FAILOVER"] = {
        "Categories": ["failover"],
        "Message": "DB cluster failover",
    }
    original = responses.RDSResponse.failover_db_cluster

    def failover_db_cluster(self: Any) -> Any:
        cluster = self.backend.clusters.get(self.params.get("DBClusterIdentifier"))
        old_writer = cluster.writer if cluster is not None else None
        result = original(self)  # moto validates and makes a reader the writer
        _emulate_cluster_failover(self.backend.clusters[self.params["DBClusterIdentifier"]], old_writer)
        return result

    responses.RDSResponse.failover_db_cluster = failover_db_cluster


# --- ECS service scheduler ---------------------------------------------------------------


def task_target_ip(task_arn: str) -> str:
    """The (made-up, stable) private IP of an emulated Fargate task: its target id in a group."""
    import hashlib

    digest = hashlib.sha1(task_arn.encode()).digest()
    return f"10.0.{digest[0]}.{max(1, digest[1])}"


def _target_groups(service: Any) -> list[tuple[str, int]]:
    return [
        (lb["targetGroupArn"], int(lb.get("containerPort") or 80))
        for lb in getattr(service, "load_balancers", None) or []
        if lb.get("targetGroupArn")
    ]


def _elbv2(account_id: str, region: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[account_id][region]


def _task_left(backend: Any, service: Any, task_arn: str) -> None:
    """The stopped task's targets drain, then are deregistered."""
    elb = _elbv2(backend.account_id, backend.region_name)
    ip = task_target_ip(task_arn)
    for arn, port in _target_groups(service):
        with STATE.lock:
            STATE.targets[(arn, ip)] = ("draining", 0.0)

        def gone(arn: str = arn, port: int = port) -> None:
            try:
                elb.deregister_targets(arn, [{"Id": ip, "Port": port}])
            except Exception as exc:  # already gone, or the group was deleted
                log.info("deregistering %s from %s: %s", ip, arn, exc)
            with STATE.lock:
                STATE.targets.pop((arn, ip), None)

        STATE.later(float(STATE.settings["drain_seconds"]), gone)


def _task_joined(backend: Any, service: Any, task_arn: str) -> None:
    """A replacement task's targets: registered `initial`, healthy after a moment (or never)."""
    import time

    elb = _elbv2(backend.account_id, backend.region_name)
    ip = task_target_ip(task_arn)
    for arn, port in _target_groups(service):
        elb.register_targets(arn, [{"Id": ip, "Port": port}])
        with STATE.lock:
            STATE.targets[(arn, ip)] = ("initial", time.monotonic())


def _emulated_health(arn: str, target_id: str) -> tuple[str, str, str] | None:
    """(state, reason, description) of a target the emulated scheduler touched, or None."""
    import time

    with STATE.lock:
        entry = STATE.targets.get((arn, target_id))
        settings = dict(STATE.settings)
    if entry is None:
        return None
    state, since = entry
    if state == "draining":
        return "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
    if settings["target_health"] == "stays-unhealthy":
        return "unhealthy", "Target.FailedHealthChecks", "Health checks failed"
    if time.monotonic() - since < float(settings["healthy_after_seconds"]):
        return "initial", "Elb.RegistrationInProgress", "Target registration is in progress"
    return None  # moto's own answer: healthy


def _patch_elbv2() -> None:
    from moto.elbv2.models import FakeTargetGroup

    original = FakeTargetGroup.health_for

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        status = original(self, target, ec2_backend)
        emulated = _emulated_health(self.arn, target["Id"])
        if emulated is not None and status.status == "healthy":
            status.status, status.reason, status.description = emulated
        return status

    FakeTargetGroup.health_for = health_for


def _patch_ecs() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.moto_api import state_manager

    # moto walks a task RUNNING -> DEACTIVATING -> ... one step per describe; a service's task
    # runs until it is stopped.
    state_manager.register_default_transition("ecs::task", {"progression": "manual", "times": 10**9})

    original_stop = EC2ContainerServiceBackend.stop_task
    original_list = EC2ContainerServiceBackend.list_tasks

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        task = original_stop(self, cluster_str, task_str, reason)
        group = getattr(task, "group", "") or ""
        service = self.services.get(f"{task.cluster_name}:{group[len('service:') :]}")
        if not group.startswith("service:") or service is None:
            return task
        service.running_count = max(0, service.running_count - 1)
        _task_left(self, service, task.task_arn)
        if STATE.settings["task_loss"] == "never-replace":
            return task

        def replace() -> None:
            (new,) = self.run_task(
                task.cluster_name,
                task.task_definition_arn,
                1,
                None,
                task.started_by,
                None,
                "FARGATE",
                group=group,
            )
            service.running_count = min(service.desired_count, service.running_count + 1)
            _task_joined(self, service, new.task_arn)

        STATE.later(float(STATE.settings["replace_after_seconds"]), replace)
        return task

    def list_tasks(self: Any, *args: Any, **kwargs: Any) -> Any:
        names = list(args) + [None] * (6 - len(args))
        service_name = kwargs.get("service_name", names[4])
        tasks = original_list(self, *args, **kwargs)
        if service_name:
            wanted = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if getattr(t, "group", None) == wanted]
        return tasks

    EC2ContainerServiceBackend.stop_task = stop_task
    EC2ContainerServiceBackend.list_tasks = list_tasks


# --- the server ---------------------------------------------------------------------------


class EmulationApp:
    """WSGI middleware in front of moto: the control endpoint, and reset on /moto-api/reset."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PATH:
            if environ.get("REQUEST_METHOD") == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                changes = json.loads(environ["wsgi.input"].read(length) or b"{}")
                unknown = sorted(set(changes) - set(DEFAULTS))
                if unknown:
                    start_response("400 Bad Request", [("Content-Type", "application/json")])
                    return [json.dumps({"error": f"unknown settings {unknown}"}).encode()]
                with STATE.lock:
                    STATE.settings.update(changes)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(STATE.settings).encode()]
        if path == "/moto-api/reset":
            STATE.reset()
        return self.app(environ, start_response)


def install() -> None:
    """Patch moto (in this process) with the emulated control plane."""
    root = Path(__file__).resolve().parents[2]
    plugins = str(root / "plugins")
    if plugins not in sys.path:
        sys.path.insert(0, plugins)
    _patch_rds()
    _patch_ecs()
    _patch_elbv2()
    from include.local import moto_emulation  # ElastiCache CopySnapshot

    moto_emulation.install()


def main(argv: list[str] | None = None) -> None:
    """moto_server's command line, with the emulation installed and its middleware in front."""
    import moto.server as server

    install()
    dispatcher = server.DomainDispatcherApplication

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return EmulationApp(dispatcher(*args, **kwargs))

    server.DomainDispatcherApplication = wrapped  # type: ignore[assignment,misc]
    server.main(argv)


if __name__ == "__main__":
    main()
