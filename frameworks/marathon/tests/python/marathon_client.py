"""Drives Strata's Marathon with the real marathon-python client (pip `marathon==0.13.0`).

Usage: python marathon_client.py http://127.0.0.1:PORT

Scenario: an app with an HTTP health check runs and becomes healthy, answers on its port,
scales up and down, refuses a conflicting update (409) unless forced, restarts without ever
dropping below minimumHealthCapacity, lists tasks, replaces a killed task, is deleted; the
event stream delivers status and deployment events. Exits non-zero on the first failure.
"""

import collections
import collections.abc
import json
import math
import sys
import threading
import time
import urllib.request

# marathon 0.13.0 still calls collections.Iterable, removed in Python 3.10.
collections.Iterable = collections.abc.Iterable

from marathon import MarathonClient  # noqa: E402
from marathon.exceptions import ConflictError, NotFoundError  # noqa: E402
from marathon.models import MarathonApp, MarathonHealthCheck  # noqa: E402
from marathon.models.app import MarathonUpgradeStrategy, PortDefinition  # noqa: E402

URL = sys.argv[1]
APP = "/acceptance/web"
N = 2
MIN_HEALTH = 1.0
client = MarathonClient(URL, timeout=15)


def log(*a):
    print("[marathon-python]", *a, flush=True)


def wait(what, predicate, timeout=60.0, interval=0.25):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
        except Exception as e:  # noqa: BLE001 - the predicate may race a deployment
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def healthy_tasks(app):
    return [t for t in app.tasks if t.state == "TASK_RUNNING" and t.health_check_results
            and all(r.alive for r in t.health_check_results)]


def settled(n):
    app = client.get_app(APP)
    ok = (app.tasks_running == n and app.tasks_healthy == n and len(app.tasks) == n
          and not app.deployments and not client.list_deployments())
    return app if ok else None


# --- events ---------------------------------------------------------------------------
events = []
stream_error = []


def listen():
    try:
        for e in client.event_stream(event_types=["status_update_event", "deployment_info",
                                                  "deployment_success", "deployment_step_success",
                                                  "health_status_changed_event", "api_post_event"]):
            events.append(e)
    except Exception as e:  # noqa: BLE001
        stream_error.append(e)


threading.Thread(target=listen, daemon=True).start()

# --- basics ---------------------------------------------------------------------------
assert client.ping().strip() == b"pong", client.ping()
info = client.get_info()
assert info.name == "marathon" and info.framework_id, info
log("info ok, framework", info.framework_id)
time.sleep(0.5)  # let the event stream attach

# --- create with an HTTP health check --------------------------------------------------
app = MarathonApp(
    cmd="python3 -m http.server $PORT0",
    cpus=0.1,
    mem=32,
    instances=N,
    labels={"acceptance": "true"},
    port_definitions=[PortDefinition(port=0, protocol="tcp", name="http")],
    health_checks=[MarathonHealthCheck(protocol="HTTP", path="/", port_index=0, grace_period_seconds=30,
                                       interval_seconds=1, timeout_seconds=2, max_consecutive_failures=5)],
    upgrade_strategy=MarathonUpgradeStrategy(minimum_health_capacity=MIN_HEALTH, maximum_over_capacity=0.5),
)
created = client.create_app(APP, app)
assert created, "create_app did not return the app (expected 201)"
assert created.id == APP, created.id
log("created", created.id, "version", created.version)

running = wait("all instances running and healthy", lambda: settled(N))
for t in running.tasks:
    body = urllib.request.urlopen(f"http://{t.host}:{t.ports[0]}/", timeout=5).read()
    assert b"Directory listing" in body or len(body) > 0
log("healthy:", [t.id for t in running.tasks])

# --- scale up and down -----------------------------------------------------------------
client.scale_app(APP, instances=N + 1)
try:
    client.update_app(APP, MarathonApp(instances=N + 2))
    raise AssertionError("an update during a deployment was accepted without force")
except ConflictError:
    log("409 while the scale deployment runs, as expected")
client.update_app(APP, MarathonApp(instances=N + 1), force=True)
wait("scaled up to 3", lambda: settled(N + 1))
client.scale_app(APP, instances=1)
wait("scaled down to 1", lambda: settled(1))
client.scale_app(APP, instances=N)
before = wait("scaled back to 2", lambda: settled(N))
log("scaled up, down and back")

# --- rolling restart, never below minimumHealthCapacity ---------------------------------
old_ids = {t.id for t in before.tasks}
floor = math.ceil(N * MIN_HEALTH)
result = client.restart_app(APP)
assert "deploymentId" in result, result
lowest = N
deadline = time.time() + 90
while True:
    app_now = client.get_app(APP)
    h = len(healthy_tasks(app_now))
    lowest = min(lowest, h)
    assert h >= floor, f"only {h} healthy during the restart (minimumHealthCapacity needs {floor})"
    ids = {t.id for t in app_now.tasks}
    if not app_now.deployments and len(ids) == N and not (ids & old_ids) and h == N:
        break
    assert time.time() < deadline, f"restart did not finish: {app_now.tasks}"
    time.sleep(0.1)
log(f"restarted: new tasks {sorted(ids)}, lowest healthy count {lowest} (floor {floor})")

# --- list and kill tasks ---------------------------------------------------------------
tasks = client.list_tasks(APP)
assert len(tasks) == N and all(t.app_id == APP for t in tasks), tasks
all_tasks = client.list_tasks()
assert {t.id for t in tasks} <= {t.id for t in all_tasks}
victim = tasks[0].id
client.kill_task(APP, victim)
replaced = wait("the killed task replaced",
                lambda: (lambda a: a if victim not in {t.id for t in a.tasks} and a.tasks_healthy == N
                         and len(a.tasks) == N else None)(client.get_app(APP)))
log("killed", victim, "replaced by", sorted({t.id for t in replaced.tasks} - {t.id for t in tasks}))

# --- versions and queue ----------------------------------------------------------------
versions = client.list_versions(APP)
assert len(versions) >= 2, versions
client.list_queue()

# --- delete ----------------------------------------------------------------------------
client.delete_app(APP)


def gone():
    try:
        client.get_app(APP)
        return None
    except NotFoundError:
        return not [t for t in client.list_tasks() if t.app_id == APP]


wait("the app deleted and its tasks gone", gone)
wait("deployments finished", lambda: not client.list_deployments())
log("deleted")

# --- events ----------------------------------------------------------------------------
wait("events to arrive", lambda: any(e.event_type == "deployment_success" for e in events), timeout=10)
kinds = collections.Counter(e.event_type for e in events)
log("events:", dict(kinds))
assert not stream_error, stream_error
statuses = [e for e in events if e.event_type == "status_update_event" and e.app_id == APP]
assert any(e.task_status == "TASK_RUNNING" for e in statuses), statuses
assert any(e.task_status == "TASK_KILLED" for e in statuses), statuses
assert kinds["deployment_info"] > 0 and kinds["deployment_success"] > 0, kinds
assert kinds["health_status_changed_event"] > 0, kinds
assert kinds["api_post_event"] > 0, kinds
print("MARATHON-PYTHON SCENARIO PASSED", json.dumps(dict(kinds)), flush=True)
