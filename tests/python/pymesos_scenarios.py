#!/usr/bin/env python3
"""End-to-end scenarios that drive a Strata master with the real pymesos scheduler driver.

    python3 tests/python/pymesos_scenarios.py --scenario launch --master 127.0.0.1:5050

Each run subscribes a framework through `pymesos.MesosSchedulerDriver`, does one thing, prints ONE
JSON line of results on stdout as its last line, and exits 0 on success or 1 with
`{"ok": false, "error": ...}` on failure. An overall timeout (--timeout) makes sure it never
hangs: a watchdog prints the failure line and hard-exits if even the shutdown path blocks.

Scenarios:
  launch      N command tasks `echo hello-$i; sleep 1` must go RUNNING then FINISHED; one
              `exit 3` task must end TASK_FAILED
  kill        `sleep 1000` goes RUNNING; killTask must bring TASK_KILLED
  failover    a framework (failover_timeout 60) starts two `sleep 1000` tasks, stops its driver
              without TEARDOWN, a new driver re-subscribes with the same framework id, implicit
              reconciliation must report both tasks TASK_RUNNING, then they are killed
  executor    tasks run by a custom executor (tests/python/pymesos_executor.py, itself a pymesos
              MesosExecutorDriver) must go RUNNING then FINISHED with the executor's data/message
  agent_lost  `sleep 1000` on one agent (--agent-id, else the first offered); prints
              "RUNNING <agent_id> <task_id>" on its own line, then expects TASK_LOST or
              TASK_UNREACHABLE plus an offer rescind or slaveLost once the agent dies
  hold        `sleep 1000` with --task-mem MB; prints "RUNNING <agent_id> <task_id>", waits for a
              line on stdin (or EOF), then kills the task and expects TASK_KILLED (used by tests
              that inspect a running task from outside, e.g. its cgroup)
  reservations  a framework in role `analytics` sees the agent's static reservation, RESERVEs,
              CREATEs a persistent volume and launches a task writing into it (one ACCEPT, plus an
              invalid RESERVE that must come back OPERATION_ERROR), a second task reads the file
              back, then DESTROY and UNRESERVE
  reserve_make / reserve_check  the two halves of that, for a master restart in between
              (--volume-id names the volume)

pymesos wants the master as host:port, without a scheme.
"""

import argparse
import base64
import json
import random
import os
import shlex
import sys
import threading
import time
import traceback
import uuid

try:
    from pymesos import MesosSchedulerDriver, Scheduler, decode_data
except ImportError as e:  # pragma: no cover - only without the venv
    print(json.dumps({"ok": False, "error": "cannot import pymesos (%s): run scripts/setup-python.sh "
                      "and use .venv/bin/python" % e}))
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
            "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE", "TASK_UNKNOWN"}


class ScenarioFailed(Exception):
    pass


def log(msg, *args):
    sys.stderr.write("[scenario] " + (msg % args if args else msg) + "\n")
    sys.stderr.flush()


# === Recorder: everything the scheduler callbacks observed ======================================

class Recorder(object):
    """Shared, thread-safe record of events; the main thread waits on it with deadlines.

    Callbacks run on pymesos's IO thread; the main thread only waits and issues calls."""

    def __init__(self, deadline):
        self.cond = threading.Condition()
        self.deadline = deadline
        self.states = {}          # task id -> [state, ...] in arrival order
        self.statuses = []        # every TaskStatus as a plain dict
        self.offers_seen = 0
        self.rescinded = []       # offer ids
        self.agents_lost = []     # agent ids (slaveLost)
        self.executors_lost = []
        self.errors = []          # error() messages
        self.registered = []      # framework ids from registered()/reregistered()
        self.disconnects = 0

    def note(self, fn):
        with self.cond:
            fn()
            self.cond.notify_all()

    def wait_for(self, what, pred, timeout=None):
        """Waits until pred() (called under the lock) is truthy; raises ScenarioFailed on timeout
        or on an error() from the master."""
        end = self.deadline if timeout is None else min(self.deadline, time.time() + timeout)
        with self.cond:
            while True:
                if self.errors:
                    raise ScenarioFailed("master sent ERROR while waiting for %s: %s" % (what, self.errors))
                value = pred()
                if value:
                    return value
                left = end - time.time()
                if left <= 0:
                    raise ScenarioFailed("timed out waiting for %s; task states so far: %s"
                                         % (what, json.dumps(self.states, sort_keys=True)))
                self.cond.wait(min(left, 0.25))

    def last_state(self, task_id):
        seen = self.states.get(task_id)
        return seen[-1] if seen else None

    def has_state(self, task_id, state):
        return state in self.states.get(task_id, [])

    def status_with(self, task_id, state):
        for status in self.statuses:
            if status.get("task_id", {}).get("value") == task_id and status.get("state") == state:
                return status
        return None


# === The scheduler ===============================================================================

def scalar(name, value):
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def offer_scalar(offer, name):
    total = 0.0
    for r in offer.get("resources", []):
        if r.get("name") == name and r.get("type", "SCALAR") == "SCALAR":
            total += float(r.get("scalar", {}).get("value", 0.0))
    return total


class TaskSpec(object):
    """A task waiting for an offer. `executor` is an ExecutorInfo dict or None (command task)."""

    def __init__(self, task_id, command=None, cpus=0.1, mem=32.0, executor=None, data=None,
                 agent_id=None, docker=None):
        # docker: {"image": ..., "container_port": N} runs the command in a Docker container in
        # BRIDGE mode, with container_port mapped to a host port taken from the offer.
        self.docker = docker
        self.host_port = None
        self.task_id = task_id
        self.command = command
        self.cpus = cpus
        self.mem = mem
        self.executor = executor
        self.data = data
        self.agent_id = agent_id

    def needs(self):
        cpus, mem = self.cpus, self.mem
        if self.executor is not None:
            cpus += offer_scalar(self.executor, "cpus")
            mem += offer_scalar(self.executor, "mem")
        return cpus, mem

    def task_info(self, offer, framework_id):
        info = {
            "task_id": {"value": self.task_id},
            "agent_id": {"value": offer["agent_id"]["value"]},
            "name": self.task_id,
            "resources": [scalar("cpus", self.cpus), scalar("mem", self.mem)],
        }
        if self.executor is not None:
            executor = json.loads(json.dumps(self.executor))
            executor["framework_id"] = {"value": framework_id}
            info["executor"] = executor
        else:
            info["command"] = {"value": self.command, "shell": True}
        if self.docker is not None and "container_port" not in self.docker:
            info["container"] = {"type": "DOCKER",
                                 "docker": {"image": self.docker["image"], "network": "NONE"}}
        elif self.docker is not None:
            ranges = [r for res in offer.get("resources", []) if res.get("name") == "ports"
                      for r in res.get("ranges", {}).get("range", [])]
            # A random port of the offer: several test clusters may share this machine's ports.
            r = random.choice(ranges)
            self.host_port = random.randint(int(r["begin"]), int(r["end"]))
            info["resources"].append({"name": "ports", "type": "RANGES",
                                      "ranges": {"range": [{"begin": self.host_port, "end": self.host_port}]}})
            info["container"] = {
                "type": "DOCKER",
                "docker": {"image": self.docker["image"], "network": "BRIDGE",
                           "port_mappings": [{"host_port": self.host_port,
                                              "container_port": self.docker["container_port"],
                                              "protocol": "tcp"}]},
            }
        if self.data is not None:
            info["data"] = base64.b64encode(self.data.encode("utf-8")).decode("ascii")
        return info


class ScenarioScheduler(Scheduler):
    """Launches queued TaskSpecs on the offers that fit them and records every callback.

    Offers with nothing to launch are declined with a short filter so that they come back soon,
    unless `hold_offers` is set (then they stay outstanding, so the master has something to
    rescind when their agent goes away)."""

    def __init__(self, rec, hold_offers=False):
        self.rec = rec
        self.pending = []
        self.launched = {}        # task id -> agent id
        self.offer_agents = {}    # offer id -> agent id, for every offer seen
        self.hold_offers = hold_offers
        self.lock = threading.Lock()

    def queue(self, specs):
        with self.lock:
            self.pending.extend(specs)

    # -- callbacks (pymesos IO thread) --

    def registered(self, driver, framework_id, master_info):
        log("registered as %s with %s", framework_id.get("value"), dict(master_info))
        self.rec.note(lambda: self.rec.registered.append(framework_id.get("value")))

    def reregistered(self, driver, master_info):
        log("re-registered as %s with %s", driver.framework_id, dict(master_info))
        self.rec.note(lambda: self.rec.registered.append(driver.framework_id))

    def disconnected(self, driver):
        log("disconnected")

        def bump():
            self.rec.disconnects += 1
        self.rec.note(bump)

    def resourceOffers(self, driver, offers):
        self.rec.note(lambda: setattr(self.rec, "offers_seen", self.rec.offers_seen + len(offers)))
        framework_id = driver.framework_id
        for offer in offers:
            agent = offer["agent_id"]["value"]
            with self.lock:
                self.offer_agents[offer["id"]["value"]] = agent
            cpus, mem = offer_scalar(offer, "cpus"), offer_scalar(offer, "mem")
            tasks = []
            with self.lock:
                for spec in list(self.pending):
                    if spec.agent_id is not None and spec.agent_id != agent:
                        continue
                    need_cpus, need_mem = spec.needs()
                    if need_cpus <= cpus + 1e-9 and need_mem <= mem + 1e-9:
                        cpus -= need_cpus
                        mem -= need_mem
                        tasks.append(spec.task_info(offer, framework_id))
                        self.pending.remove(spec)
                        self.launched[spec.task_id] = agent
            if tasks:
                log("launching %s on agent %s (offer %s)",
                    [t["task_id"]["value"] for t in tasks], agent, offer["id"]["value"])
                driver.launchTasks(offer["id"], tasks, filters={"refuse_seconds": 1.0})
            elif not self.hold_offers:
                driver.declineOffer(offer["id"], filters={"refuse_seconds": 1.0})

    def offerRescinded(self, driver, offer_id):
        log("offer rescinded: %s", offer_id.get("value"))
        self.rec.note(lambda: self.rec.rescinded.append(offer_id.get("value")))

    def statusUpdate(self, driver, status):
        status = json.loads(json.dumps(status))
        task_id = status.get("task_id", {}).get("value")
        state = status.get("state")
        log("status %s %s%s", task_id, state,
            (" (%s)" % status["message"]) if status.get("message") else "")

        def record():
            self.rec.states.setdefault(task_id, []).append(state)
            self.rec.statuses.append(status)
        self.rec.note(record)

    def slaveLost(self, driver, agent_id):
        log("agent lost: %s", agent_id.get("value"))
        self.rec.note(lambda: self.rec.agents_lost.append(agent_id.get("value")))

    def executorLost(self, driver, executor_id, agent_id, status):
        log("executor lost: %s on %s (status %s)", executor_id.get("value"), agent_id.get("value"), status)
        self.rec.note(lambda: self.rec.executors_lost.append(executor_id.get("value")))

    def error(self, driver, message):
        log("ERROR from master: %s", message)
        self.rec.note(lambda: self.rec.errors.append(message))


# === Driver lifecycle ============================================================================

class Run(object):
    """One scenario run: owns the drivers and the result dict."""

    def __init__(self, args):
        self.args = args
        self.deadline = time.time() + args.timeout
        self.rec = Recorder(self.deadline)
        self.drivers = []
        self.result = {"scenario": args.scenario, "ok": False}
        self.suffix = uuid.uuid4().hex[:6]

    def framework_info(self, name, **extra):
        info = {"user": os.environ.get("USER") or "root", "name": name, "hostname": "127.0.0.1"}
        info.update(extra)
        return info

    def start_driver(self, sched, framework):
        driver = MesosSchedulerDriver(sched, framework, self.args.master, use_addict=True,
                                      implicit_acknowledgements=True)
        self.drivers.append(driver)
        driver.start()
        return driver

    def stop_driver(self, driver, failover=False):
        """Stops a driver (TEARDOWN unless failover) and waits a bounded time for its IO thread."""
        if driver in self.drivers:
            self.drivers.remove(driver)
        driver.stop(failover=failover)
        thread = driver._io_thread  # pymesos has no bounded join(); wait on its thread directly
        if thread is not None:
            thread.join(max(1.0, min(10.0, self.deadline - time.time())))
            if thread.is_alive():
                log("driver IO thread did not stop within the deadline")

    def stop_all(self):
        for driver in list(self.drivers):
            try:
                self.stop_driver(driver)
            except BaseException as e:  # the result line matters more than a clean teardown
                log("stopping a driver failed: %r", e)

    def wait_registered(self, count=1):
        return self.rec.wait_for("SUBSCRIBED (registered callback)",
                                 lambda: len(self.rec.registered) >= count and self.rec.registered[count - 1])

    def wait_states(self, what, task_ids, states):
        """Waits until every task has reached one of `states`; fails early on an unexpected terminal state."""
        wanted = set(states)

        def check():
            for tid in task_ids:
                seen = self.rec.states.get(tid, [])
                if any(s in wanted for s in seen):
                    continue
                bad = [s for s in seen if s in TERMINAL and s not in wanted]
                if bad:
                    raise ScenarioFailed("task %s ended %s while waiting for %s; states: %s"
                                         % (tid, bad[0], what, seen))
                return False
            return True
        self.rec.wait_for(what, check)

    def task_id(self, label, i=None):
        return "%s-%s%s" % (label, "" if i is None else "%d-" % i, self.suffix)


# === Scenarios ===================================================================================

def scenario_launch(run):
    args = run.args
    sched = ScenarioScheduler(run.rec)
    ok_ids = [run.task_id("hello", i) for i in range(args.tasks)]
    fail_id = run.task_id("exit3")
    sched.queue([TaskSpec(tid, "echo hello-%d; sleep 1" % i) for i, tid in enumerate(ok_ids)])
    sched.queue([TaskSpec(fail_id, "exit 3")])
    driver = run.start_driver(sched, run.framework_info("strata-e2e-launch"))
    run.result["framework_id"] = run.wait_registered()

    run.wait_states("TASK_FINISHED for every hello task", ok_ids, ["TASK_FINISHED"])
    run.wait_states("TASK_FAILED for the exit-3 task", [fail_id], ["TASK_FAILED"])
    with run.rec.cond:
        for tid in ok_ids:
            seen = run.rec.states[tid]
            if "TASK_RUNNING" not in seen:
                raise ScenarioFailed("task %s finished without TASK_RUNNING first: %s" % (tid, seen))
            if seen.index("TASK_RUNNING") > seen.index("TASK_FINISHED"):
                raise ScenarioFailed("task %s: TASK_RUNNING came after TASK_FINISHED: %s" % (tid, seen))
        run.result["tasks"] = {tid: list(run.rec.states[tid]) for tid in ok_ids}
        run.result["failed_task"] = {fail_id: list(run.rec.states[fail_id])}
        run.result["agents"] = dict(sched.launched)
    run.stop_driver(driver)


def scenario_kill(run):
    sched = ScenarioScheduler(run.rec)
    tid = run.task_id("sleeper")
    sched.queue([TaskSpec(tid, "sleep 1000")])
    driver = run.start_driver(sched, run.framework_info("strata-e2e-kill"))
    run.result["framework_id"] = run.wait_registered()
    run.wait_states("TASK_RUNNING", [tid], ["TASK_RUNNING"])
    log("killing %s", tid)
    driver.killTask({"value": tid})
    run.wait_states("TASK_KILLED after killTask", [tid], ["TASK_KILLED"])
    with run.rec.cond:
        run.result["tasks"] = {tid: list(run.rec.states[tid])}
    run.stop_driver(driver)


def scenario_failover(run):
    rec = run.rec
    ids = [run.task_id("failover", i) for i in range(2)]
    sched1 = ScenarioScheduler(rec)
    sched1.queue([TaskSpec(tid, "sleep 1000") for tid in ids])
    framework = run.framework_info("strata-e2e-failover", failover_timeout=60.0)
    driver1 = run.start_driver(sched1, dict(framework))
    framework_id = run.wait_registered()
    run.result["framework_id"] = framework_id
    print("FRAMEWORK_ID %s" % framework_id)
    sys.stdout.flush()
    run.wait_states("TASK_RUNNING for both tasks (first driver)", ids, ["TASK_RUNNING"])

    log("stopping the first driver with failover=True (no TEARDOWN)")
    run.stop_driver(driver1, failover=True)
    # Forget what the first driver saw, so RUNNING below can only come from the new subscription.
    with rec.cond:
        first_states = {tid: list(rec.states.get(tid, [])) for tid in ids}
        rec.states.clear()
        rec.statuses = []
    run.result["first_driver"] = first_states

    sched2 = ScenarioScheduler(rec)
    framework2 = dict(framework)
    framework2["id"] = {"value": framework_id}
    driver2 = run.start_driver(sched2, framework2)
    again = run.wait_registered(count=2)
    if again != framework_id:
        raise ScenarioFailed("re-subscribed with framework id %s but got %s" % (framework_id, again))
    log("re-subscribed; implicit reconciliation")
    driver2.reconcileTasks([])
    run.wait_states("TASK_RUNNING for both tasks from reconciliation", ids, ["TASK_RUNNING"])
    for tid in ids:
        driver2.killTask({"value": tid})
    run.wait_states("TASK_KILLED for both tasks", ids, ["TASK_KILLED"])
    with rec.cond:
        run.result["tasks"] = {tid: list(rec.states[tid]) for tid in ids}
    run.stop_driver(driver2)


def scenario_executor(run):
    args = run.args
    python = args.executor_python or sys.executable
    script = os.path.join(HERE, "pymesos_executor.py")
    sched = ScenarioScheduler(run.rec)
    ids = [run.task_id("exec", i) for i in range(args.tasks)]
    specs = []
    for tid in ids:
        executor = {
            "executor_id": {"value": "executor-" + tid},
            "name": "pymesos test executor",
            "command": {"value": "exec %s %s" % (shlex.quote(python), shlex.quote(script)), "shell": True},
            "resources": [scalar("cpus", 0.1), scalar("mem", 64.0)],
        }
        specs.append(TaskSpec(tid, executor=executor, data="payload-" + tid))
    sched.queue(specs)
    driver = run.start_driver(sched, run.framework_info("strata-e2e-executor"))
    run.result["framework_id"] = run.wait_registered()
    run.wait_states("TASK_FINISHED from the pymesos executor", ids, ["TASK_FINISHED"])
    details = {}
    with run.rec.cond:
        for tid in ids:
            seen = run.rec.states[tid]
            if "TASK_RUNNING" not in seen:
                raise ScenarioFailed("task %s finished without TASK_RUNNING: %s" % (tid, seen))
            finished = run.rec.status_with(tid, "TASK_FINISHED")
            message = finished.get("message", "")
            if "finished by pymesos executor" not in message:
                raise ScenarioFailed("TASK_FINISHED for %s lacks the executor's message: %r" % (tid, finished))
            raw = finished.get("data")
            if not raw:
                raise ScenarioFailed("TASK_FINISHED for %s lacks the executor's data: %r" % (tid, finished))
            data = json.loads(decode_data(raw).decode("utf-8"))
            if data.get("task_id") != tid or data.get("task_data") != "payload-" + tid:
                raise ScenarioFailed("unexpected executor data for %s: %r" % (tid, data))
            details[tid] = {"states": list(seen), "source": finished.get("source"), "data": data,
                            "message": message}
    run.result["tasks"] = details
    run.stop_driver(driver)


def scenario_agent_lost(run):
    args = run.args
    rec = run.rec
    sched = ScenarioScheduler(rec, hold_offers=True)
    tid = run.task_id("doomed")
    sched.queue([TaskSpec(tid, "sleep 1000", agent_id=args.agent_id)])
    driver = run.start_driver(sched, run.framework_info("strata-e2e-agent-lost"))
    run.result["framework_id"] = run.wait_registered()
    run.wait_states("TASK_RUNNING", [tid], ["TASK_RUNNING"])
    agent = sched.launched[tid]
    run.result["agent_id"] = agent
    print("RUNNING %s %s" % (agent, tid))
    sys.stdout.flush()

    run.wait_states("TASK_LOST or TASK_UNREACHABLE after the agent died", [tid],
                    ["TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE"])

    def rescinded_or_lost():
        with sched.lock:
            ours = [o for o in rec.rescinded if sched.offer_agents.get(o) == agent]
        return ours or agent in rec.agents_lost
    rec.wait_for("an offer rescind or slaveLost for the dead agent", rescinded_or_lost)
    with rec.cond:
        run.result["tasks"] = {tid: list(rec.states[tid])}
        run.result["rescinded"] = list(rec.rescinded)
        run.result["agents_lost"] = list(rec.agents_lost)
        lost = rec.status_with(tid, rec.states[tid][-1]) or {}
        run.result["lost_status"] = {k: lost.get(k) for k in ("state", "reason", "source", "message")}
    run.stop_driver(driver)


def scenario_hold(run):
    args = run.args
    sched = ScenarioScheduler(run.rec)
    tid = run.task_id("held")
    sched.queue([TaskSpec(tid, "sleep 1000", mem=args.task_mem, agent_id=args.agent_id)])
    driver = run.start_driver(sched, run.framework_info("strata-e2e-hold"))
    run.result["framework_id"] = run.wait_registered()
    run.wait_states("TASK_RUNNING", [tid], ["TASK_RUNNING"])
    print("RUNNING %s %s" % (sched.launched[tid], tid))
    sys.stdout.flush()

    got_line = threading.Event()

    def read_stdin():
        sys.stdin.readline()
        got_line.set()
    threading.Thread(target=read_stdin, daemon=True).start()
    while not got_line.wait(0.25):
        if time.time() > run.deadline:
            raise ScenarioFailed("nobody released the held task (no line on stdin) before the timeout")
    driver.killTask({"value": tid})
    run.wait_states("TASK_KILLED after killTask", [tid], ["TASK_KILLED"])
    with run.rec.cond:
        run.result["tasks"] = {tid: list(run.rec.states[tid])}
    run.stop_driver(driver)


def scenario_docker(run):
    """A Docker task (busybox httpd, BRIDGE, a port mapping) runs; prints its host port; killed on a stdin line."""
    args = run.args
    sched = ScenarioScheduler(run.rec)
    tid = run.task_id("docker")
    spec = TaskSpec(tid, "httpd -f -p 8080 -h /www", mem=64.0, agent_id=args.agent_id,
                    docker={"image": "strata-test/busybox:latest", "container_port": 8080})
    sched.queue([spec])
    driver = run.start_driver(sched, run.framework_info("strata-e2e-docker"))
    run.result["framework_id"] = run.wait_registered()
    run.wait_states("TASK_RUNNING", [tid], ["TASK_RUNNING"])
    print("RUNNING %s %s %s" % (sched.launched[tid], tid, spec.host_port))
    sys.stdout.flush()
    got_line = threading.Event()

    def read_stdin():
        sys.stdin.readline()
        got_line.set()
    threading.Thread(target=read_stdin, daemon=True).start()
    while not got_line.wait(0.25):
        if time.time() > run.deadline:
            raise ScenarioFailed("nobody released the docker task (no line on stdin) before the timeout")
    driver.killTask({"value": tid})
    run.wait_states("TASK_KILLED after killTask", [tid], ["TASK_KILLED"])
    with run.rec.cond:
        run.result["tasks"] = {tid: list(run.rec.states[tid])}
    run.stop_driver(driver)


def scenario_docker_oom(run):
    """A Docker task that allocates far beyond its 16 MB must end TASK_FAILED with the memory reason."""
    args = run.args
    sched = ScenarioScheduler(run.rec)
    tid = run.task_id("docker-oom")
    spec = TaskSpec(tid, "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived", mem=16.0,
                    agent_id=args.agent_id, docker={"image": "strata-test/busybox:latest"})
    sched.queue([spec])
    driver = run.start_driver(sched, run.framework_info("strata-e2e-docker-oom"))
    run.result["framework_id"] = run.wait_registered()
    run.wait_states("TASK_FAILED", [tid], ["TASK_FAILED"])
    with run.rec.cond:
        run.result["tasks"] = {tid: list(run.rec.states[tid])}
        failed = [st for st in run.rec.statuses
                  if st.get("task_id", {}).get("value") == tid and st.get("state") == "TASK_FAILED"]
    run.result["reason"] = failed[-1].get("reason")
    run.result["message"] = failed[-1].get("message")
    if run.result["reason"] != "REASON_CONTAINER_LIMITATION_MEMORY":
        raise ScenarioFailed("expected REASON_CONTAINER_LIMITATION_MEMORY, got %s (%s)"
                             % (run.result["reason"], run.result["message"]))
    run.stop_driver(driver)


# === Reservations and persistent volumes ========================================================

ROLE = "analytics"
PRINCIPAL = "strata-e2e"


def reserved(name, value, role=ROLE, principal=PRINCIPAL):
    """A scalar dynamically reserved for `role` (Mesos's `reservations` format)."""
    r = scalar(name, value)
    r["reservations"] = [{"type": "DYNAMIC", "role": role, "principal": principal}]
    return r


def volume_resource(volume_id, size, container_path="data"):
    """A persistent volume on dynamically reserved disk, as CREATE names it."""
    r = reserved("disk", size)
    r["disk"] = {"persistence": {"id": volume_id, "principal": PRINCIPAL},
                 "volume": {"mode": "RW", "container_path": container_path}}
    return r


def reservation_of(r):
    """(type, role) of an offered resource's reservation, or None when unreserved."""
    for x in r.get("reservations") or []:
        return x.get("type"), x.get("role")
    return None


def offered_volume(offers, volume_id):
    for offer in offers:
        for r in offer.get("resources", []):
            if r.get("disk", {}).get("persistence", {}).get("id") == volume_id:
                return r
    return None


def offered_amount(offers, name, kind):
    """Sum over `offers` of scalar `name` of reservation `kind` ("STATIC", "DYNAMIC" or None),
    volumes excluded."""
    total = 0.0
    for offer in offers:
        for r in offer.get("resources", []):
            if r.get("name") != name or r.get("disk", {}).get("persistence"):
                continue
            res = reservation_of(r)
            if (res[0] if res else None) == kind:
                total += float(r.get("scalar", {}).get("value", 0.0))
    return total


class OfferQueue(ScenarioScheduler):
    """Hands every offer to the main thread, which decides what to do with it, and records
    operation status updates (UPDATE_OPERATION_STATUS)."""

    def __init__(self, rec):
        super(OfferQueue, self).__init__(rec)
        self.queued = []
        self.held = []            # offers kept outstanding by next_offers
        self.operations = {}      # operation id -> status dict

    def resourceOffers(self, driver, offers):
        offers = json.loads(json.dumps(offers))

        def keep():
            self.rec.offers_seen += len(offers)
            self.queued.extend(offers)
        self.rec.note(keep)

    def operationStatusUpdate(self, driver, status):
        status = json.loads(json.dumps(status))
        op_id = status.get("operation_id", {}).get("value")
        log("operation %s %s%s", op_id, status.get("state"),
            (" (%s)" % status["message"]) if status.get("message") else "")
        self.rec.note(lambda: self.operations.__setitem__(op_id, status))


def next_offers(run, sched, what, pred):
    """Keeps offers outstanding until together they satisfy pred(offers), then returns them all
    (to be used in one ACCEPT). Resources freed while others are on offer come in an offer of
    their own, as in Mesos, so a framework that needs them together must hold both."""
    while True:
        run.rec.wait_for(what, lambda: sched.queued)
        with run.rec.cond:
            sched.held.extend(sched.queued)
            sched.queued = []
            offers = list(sched.held)
        if pred(offers):
            with run.rec.cond:
                sched.held = []
            return offers


def ids_of(offers):
    return [o["id"] for o in offers]


def wait_operations(run, sched, ids):
    run.rec.wait_for("operation status updates for %s" % ids,
                     lambda: all(i in sched.operations for i in ids))
    with run.rec.cond:
        return {i: dict(sched.operations[i]) for i in ids}


def expect_finished(statuses):
    for op_id, st in statuses.items():
        if st.get("state") != "OPERATION_FINISHED":
            raise ScenarioFailed("operation %s: %s (%s)" % (op_id, st.get("state"), st.get("message")))


def volume_task(offers, task_id, command, volume):
    """A command task on dynamically reserved cpus and memory, with the offered volume."""
    return {
        "task_id": {"value": task_id},
        "agent_id": {"value": offers[0]["agent_id"]["value"]},
        "name": task_id,
        "command": {"value": command, "shell": True},
        "resources": [reserved("cpus", 0.1), reserved("mem", 32.0), volume],
    }


def reservation_framework(run, name):
    sched = OfferQueue(run.rec)
    driver = run.start_driver(sched, run.framework_info(name, role=ROLE, principal=PRINCIPAL))
    run.result["framework_id"] = run.wait_registered()
    return sched, driver


def make_reservation_and_volume(run, sched, driver, offers, volume_id, bad_operation=False):
    """RESERVE cpus/mem/disk, CREATE a volume on part of the disk and launch a task that writes
    into it, all in one ACCEPT (operations apply in order); waits for all of it."""
    ops = [
        {"type": "RESERVE", "id": {"value": "reserve-" + run.suffix},
         "reserve": {"resources": [reserved("cpus", 0.5), reserved("mem", 128.0), reserved("disk", 200.0)]}},
        {"type": "CREATE", "id": {"value": "create-" + run.suffix},
         "create": {"volumes": [volume_resource(volume_id, 100.0)]}},
    ]
    if bad_operation:
        # A reservation for a role the framework does not hold: dropped with OPERATION_ERROR.
        ops.insert(1, {"type": "RESERVE", "id": {"value": "bad-" + run.suffix},
                       "reserve": {"resources": [reserved("cpus", 0.1, role="not-mine")]}})
    writer = run.task_id("writer")
    marker = "persisted-" + volume_id
    # The task names the volume the way CREATE did; the master has made it by then.
    ops.append({"type": "LAUNCH", "launch": {"task_infos": [
        volume_task(offers, writer, "echo %s > data/hello.txt" % marker, volume_resource(volume_id, 100.0))]}})
    log("RESERVE + CREATE %s + LAUNCH %s on %d offer(s)", volume_id, writer, len(offers))
    driver.acceptOffers(ids_of(offers), ops, filters={"refuse_seconds": 0.1})
    ids = [op["id"]["value"] for op in ops if "id" in op]
    statuses = wait_operations(run, sched, ids)
    bad = statuses.pop("bad-" + run.suffix, None)
    expect_finished(statuses)
    if bad_operation:
        if bad.get("state") != "OPERATION_ERROR" or "not-mine" not in bad.get("message", ""):
            raise ScenarioFailed("the reservation for a role not held should fail: %r" % bad)
        run.result["bad_operation"] = {"state": bad.get("state"), "message": bad.get("message")}
    run.wait_states("TASK_FINISHED for the writer", [writer], ["TASK_FINISHED"])
    run.result["writer"] = {writer: list(run.rec.states[writer])}


def read_then_destroy(run, sched, driver, volume_id):
    """Waits for an offer carrying the volume and the dynamic reservation, launches a task that
    reads the file back, then DESTROYs the volume and UNRESERVEs everything."""
    def has_volume(offers):
        return offered_volume(offers, volume_id) is not None and offered_amount(offers, "cpus", "DYNAMIC") >= 0.1
    offers = next_offers(run, sched, "offers with volume %s" % volume_id, has_volume)
    volume = offered_volume(offers, volume_id)
    run.result["offered_volume"] = {
        "container_path": volume.get("disk", {}).get("volume", {}).get("container_path"),
        "reservation": reservation_of(volume),
        "role": volume.get("role"),
        "size": volume.get("scalar", {}).get("value"),
    }
    reader = run.task_id("reader")
    marker = "persisted-" + volume_id
    command = "grep -q %s data/hello.txt && cat data/hello.txt" % marker
    driver.launchTasks(ids_of(offers), [volume_task(offers, reader, command, volume)],
                       filters={"refuse_seconds": 0.1})
    run.wait_states("TASK_FINISHED for the reader (the file is there)", [reader], ["TASK_FINISHED"])
    run.result["reader"] = {reader: list(run.rec.states[reader])}

    # The volume and the whole reservation together (the reader's share may come back in an
    # offer of its own).
    def everything(offers):
        return (has_volume(offers) and offered_amount(offers, "cpus", "DYNAMIC") >= 0.5 - 1e-9
                and offered_amount(offers, "mem", "DYNAMIC") >= 128.0 - 1e-9)
    offers = next_offers(run, sched, "offers with volume %s and the whole reservation" % volume_id,
                         everything)
    volume = offered_volume(offers, volume_id)
    ops = [
        {"type": "DESTROY", "id": {"value": "destroy-" + run.suffix}, "destroy": {"volumes": [volume]}},
        # The volume's disk went back to the reservation: 200 in all.
        {"type": "UNRESERVE", "id": {"value": "unreserve-" + run.suffix},
         "unreserve": {"resources": [reserved("cpus", 0.5), reserved("mem", 128.0), reserved("disk", 200.0)]}},
    ]
    log("DESTROY %s + UNRESERVE on %d offer(s)", volume_id, len(offers))
    driver.acceptOffers(ids_of(offers), ops, filters={"refuse_seconds": 0.1})
    expect_finished(wait_operations(run, sched, [op["id"]["value"] for op in ops]))

    def clean(offers):
        return (offered_volume(offers, volume_id) is None and offered_amount(offers, "cpus", "DYNAMIC") == 0
                and offered_amount(offers, "disk", "DYNAMIC") == 0
                and offered_amount(offers, "disk", None) >= run.args.agent_disk - 1e-9)
    last = next_offers(run, sched, "offers with all the disk unreserved again", clean)
    run.result["final_offer"] = {k: offered_amount(last, k, None) for k in ("cpus", "mem", "disk")}
    run.result["final_static"] = {k: offered_amount(last, k, "STATIC") for k in ("cpus", "mem")}
    driver.declineOffer(ids_of(last), filters={"refuse_seconds": 1.0})


def scenario_reservations(run):
    """Framework in role `analytics`: statically reserved resources are offered (with the STATIC
    reservation and the old `role` field); RESERVE + CREATE + a writer task in one ACCEPT (plus an
    invalid RESERVE, dropped with OPERATION_ERROR); a reader task finds the file; DESTROY and
    UNRESERVE leave only the static reservation."""
    volume_id = run.args.volume_id or "vol-" + run.suffix
    sched, driver = reservation_framework(run, "strata-e2e-reservations")

    def has_static(offers):
        return offered_amount(offers, "cpus", "STATIC") > 0 and offered_amount(offers, "disk", None) >= 200
    offers = next_offers(run, sched, "an offer with the static reservation", has_static)
    statics = [r for o in offers for r in o["resources"] if reservation_of(r) == ("STATIC", ROLE)]
    for r in statics:
        if r.get("role") != ROLE:
            raise ScenarioFailed("a statically reserved resource lacks role=%s: %r" % (ROLE, r))
    run.result["static"] = {r["name"]: r.get("scalar", {}).get("value") for r in statics}
    run.result["allocation_role"] = offers[0].get("allocation_info", {}).get("role")
    make_reservation_and_volume(run, sched, driver, offers, volume_id, bad_operation=True)
    read_then_destroy(run, sched, driver, volume_id)
    run.result["volume_id"] = volume_id
    run.stop_driver(driver)


def scenario_reserve_make(run):
    """First half of the master-restart test: reserve, create --volume-id, write a file into it."""
    volume_id = run.args.volume_id or "vol-" + run.suffix
    sched, driver = reservation_framework(run, "strata-e2e-reserve-make")
    offers = next_offers(run, sched, "an offer with unreserved resources",
                         lambda o: offered_amount(o, "cpus", None) >= 0.6 and offered_amount(o, "disk", None) >= 200)
    make_reservation_and_volume(run, sched, driver, offers, volume_id)
    run.result["volume_id"] = volume_id
    run.stop_driver(driver)


def scenario_reserve_check(run):
    """Second half: the reservation and --volume-id are offered again; the file is read back;
    DESTROY and UNRESERVE."""
    if not run.args.volume_id:
        raise ScenarioFailed("reserve_check needs --volume-id")
    sched, driver = reservation_framework(run, "strata-e2e-reserve-check")
    read_then_destroy(run, sched, driver, run.args.volume_id)
    run.result["volume_id"] = run.args.volume_id
    run.stop_driver(driver)


SCENARIOS = {
    "reservations": scenario_reservations,
    "reserve_make": scenario_reserve_make,
    "reserve_check": scenario_reserve_check,
    "docker": scenario_docker,
    "docker_oom": scenario_docker_oom,
    "launch": scenario_launch,
    "kill": scenario_kill,
    "failover": scenario_failover,
    "executor": scenario_executor,
    "agent_lost": scenario_agent_lost,
    "hold": scenario_hold,
}


# === main ========================================================================================

_printed = threading.Lock()


def emit(result):
    """Prints the single result line once, whoever gets here first (main thread or watchdog)."""
    if _printed.acquire(blocking=False):
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
        sys.stdout.flush()
        return True
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--master", required=True, help="host:port of the master (no scheme), or zk://host:port/path")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall timeout in seconds")
    parser.add_argument("--tasks", type=int, default=None, help="number of tasks (launch: 5, executor: 2)")
    parser.add_argument("--agent-id", default=None, help="agent to launch on (agent_lost, hold)")
    parser.add_argument("--task-mem", type=float, default=64.0, help="task memory in MB (hold)")
    parser.add_argument("--agent-disk", type=float, default=1000.0,
                        help="the agent's disk: all of it is unreserved again at the end (reservations)")
    parser.add_argument("--volume-id", default=None,
                        help="persistence id of the volume (reservations, reserve_make, reserve_check)")
    parser.add_argument("--executor-python", default=None,
                        help="python that runs pymesos_executor.py (default: this interpreter)")
    args = parser.parse_args()
    if "://" in args.master and not args.master.startswith(("zk://", "zoo://")):
        parser.error("--master must be host:port without a scheme, or a zk:// URL (pymesos does not strip http://)")
    if args.tasks is None:
        args.tasks = 2 if args.scenario == "executor" else 5

    run = Run(args)
    started = time.time()

    def watchdog():
        # The main thread enforces the deadline itself; this only fires if shutdown blocks too.
        time.sleep(args.timeout + 15)
        result = dict(run.result, ok=False, error="watchdog: scenario still running %ss after its %ss "
                      "timeout (hung driver shutdown?)" % (15, args.timeout))
        if emit(result):
            sys.stderr.write("[scenario] FAILED: %s\n" % result["error"])
            sys.stderr.flush()
        os._exit(3)
    threading.Thread(target=watchdog, name="watchdog", daemon=True).start()

    try:
        SCENARIOS[args.scenario](run)
        run.result["ok"] = True
    except ScenarioFailed as e:
        run.result["error"] = str(e)
    except KeyboardInterrupt:
        # pymesos turns an exception on its IO thread into an interrupt of the main thread.
        run.result["error"] = "pymesos driver aborted (see its traceback on stderr)"
    except BaseException as e:
        run.result["error"] = "%s: %s" % (type(e).__name__, e)
        traceback.print_exc()
    finally:
        try:
            run.stop_all()
        except BaseException as e:
            log("cleanup failed: %r", e)

    with run.rec.cond:
        run.result["states_seen"] = sorted({s for seen in run.rec.states.values() for s in seen})
        run.result["offers_seen"] = run.rec.offers_seen
        if run.rec.errors:
            run.result["master_errors"] = list(run.rec.errors)
    run.result["elapsed_secs"] = round(time.time() - started, 2)
    emit(run.result)
    if not run.result["ok"]:
        log("FAILED: %s", run.result.get("error"))
        sys.exit(1)
    log("ok")
    sys.exit(0)


if __name__ == "__main__":
    main()
