#!/usr/bin/env python3
"""A custom executor built on pymesos's MesosExecutorDriver (the v1 Executor HTTP API).

The agent starts it as the command of an ExecutorInfo, with MESOS_AGENT_ENDPOINT,
MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID in the environment. For each launched task it sends
TASK_RUNNING, does a little work in its sandbox, then sends TASK_FINISHED with a message and
JSON `data` echoing the task id and the task's own data, which the scenario checks.

pymesos kills its whole process group (os.killpg(0, SIGKILL)) on SHUTDOWN or when the stream
closes, so the agent must start executors in their own process group.
"""

import json
import os
import sys
import threading
import time

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data

# An executor nobody shuts down must not live forever on a test machine.
IDLE_EXIT_SECS = float(os.environ.get("STRATA_TEST_EXECUTOR_IDLE_SECS", "300"))


def log(msg, *args):
    sys.stderr.write("[pymesos-executor] " + (msg % args if args else msg) + "\n")
    sys.stderr.flush()


class TestExecutor(Executor):
    def __init__(self):
        self.lock = threading.Lock()
        self.last_activity = time.time()

    def registered(self, driver, executor_info, framework_info, agent_info):
        log("registered: executor %s of framework %s on agent %s",
            executor_info.get("executor_id", {}).get("value"),
            framework_info.get("id", {}).get("value"),
            agent_info.get("id", {}).get("value"))

    def reregistered(self, driver, agent_info):
        log("re-registered with agent %s", agent_info.get("id", {}).get("value"))

    def disconnected(self, driver):
        log("disconnected from the agent")

    def launchTask(self, driver, task):
        task_id = task["task_id"]["value"]
        log("launch %s", task_id)
        with self.lock:
            self.last_activity = time.time()
        threading.Thread(target=self.run_task, args=(driver, task), name="task-" + task_id,
                         daemon=True).start()

    def run_task(self, driver, task):
        task_id = task["task_id"]
        try:
            driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_RUNNING",
                                     "message": "running in pymesos executor pid %d" % os.getpid()})
            task_data = decode_data(task["data"]).decode("utf-8") if task.get("data") else None
            # "A little work": something observable in the sandbox.
            total = sum(i * i for i in range(100000))
            sandbox = os.environ.get("MESOS_SANDBOX") or os.getcwd()
            with open(os.path.join(sandbox, "executor-%s.out" % task_id["value"]), "w") as f:
                f.write("%s %d\n" % (task_data, total))
            time.sleep(0.5)
            result = {"task_id": task_id["value"], "task_data": task_data, "sum": total,
                      "pid": os.getpid()}
            driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_FINISHED",
                                     "message": "finished by pymesos executor",
                                     "data": encode_data(json.dumps(result).encode("utf-8"))})
            log("finished %s", task_id["value"])
        except Exception as e:  # report, never die silently with the task unfinished
            log("task %s failed: %r", task_id.get("value"), e)
            try:
                driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_FAILED",
                                         "message": "pymesos executor error: %r" % (e,)})
            except Exception as e2:
                log("could not report the failure: %r", e2)
        finally:
            with self.lock:
                self.last_activity = time.time()

    def killTask(self, driver, task_id):
        log("kill %s", task_id.get("value"))
        driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_KILLED",
                                 "message": "killed by pymesos executor"})

    def frameworkMessage(self, driver, message):
        log("framework message: %r", decode_data(message))

    def shutdown(self, driver):
        log("shutdown")

    def error(self, driver, message):
        log("error: %s", message)


def main():
    for var in ("MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID"):
        if not os.environ.get(var):
            log("missing %s in the environment: not started by an agent?", var)
            sys.exit(2)
    executor = TestExecutor()
    driver = MesosExecutorDriver(executor, use_addict=True)
    driver.start()
    try:
        while not driver.aborted:
            time.sleep(0.5)
            with executor.lock:
                idle = time.time() - executor.last_activity
            if idle > IDLE_EXIT_SECS:
                log("idle for %ds without a shutdown: exiting", idle)
                break
    finally:
        driver.stop()
        driver.join()
    log("exiting")


if __name__ == "__main__":
    main()
