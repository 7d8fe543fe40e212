#!/usr/bin/env python3
"""HTTP side of scripts/bench-marathon.sh (standard library only).

  big      POST one app with N instances; time from the POST to all N TASK_RUNNING
           (GET /v2/apps/<id> `tasksRunning`, polled every 100 ms)
  many     POST A apps with I instances each (C threads); time to all running
           (GET /v2/apps, sum of `tasksRunning`, polled every 500 ms)
  latency  GET a path N times in a row: p50/p90/p99/max
  spread   how the tasks at a path (an app, or /v2/tasks) are spread over agents
  counters Marathon's own counters from /metrics
"""

import argparse
import http.client
import json
import sys
import threading
import time


def pct(values, p):
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Client:
    def __init__(self, server, timeout=120):
        host, port = server.rsplit(":", 1)
        self.host, self.port, self.timeout = host, int(port), timeout
        self.conn = None

    def call(self, method, path, body=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                data = json.dumps(body).encode() if body is not None else None
                hdrs = {"Content-Type": "application/json"} if data is not None else {}
                self.conn.request(method, path, data, hdrs)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError


class MasterWatch:
    """Polls the master's master/tasks_running until it reaches `total`, in a thread."""

    def __init__(self, master, total, t0, every):
        self.at = None
        self.stop = False
        if not master:
            return

        def loop():
            c = Client(master)
            while not self.stop:
                try:
                    st, data = c.call("GET", "/metrics/snapshot")
                    if st == 200 and json.loads(data).get("master/tasks_running", 0) >= total:
                        self.at = time.monotonic() - t0
                        return
                except Exception:
                    pass
                time.sleep(every)

        threading.Thread(target=loop, daemon=True).start()

    def report(self, total):
        # The master is at least as far as Marathon: give its poller one more round.
        deadline = time.monotonic() + 2
        while self.at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop = True
        if self.at is not None:
            return f"; the master had all {total} tasks RUNNING at {self.at:.2f} s"
        return f"; the master did not reach {total} RUNNING tasks" if self.at is None else ""


def app_def(app_id, instances, cpus, mem, ports):
    d = {"id": app_id, "cmd": "sleep 3600", "cpus": cpus, "mem": mem, "instances": instances}
    if not ports:
        d["portDefinitions"] = []
    return d


def cmd_big(a):
    c = Client(a.server)
    body = app_def(a.app, a.instances, a.cpus, a.mem, a.ports)
    t0 = time.monotonic()
    mw = MasterWatch(a.master, a.master_total, t0, 0.1)
    st, data = c.call("POST", "/v2/apps", body)
    t_post = time.monotonic() - t0
    if st not in (200, 201):
        print(f"POST /v2/apps: HTTP {st}: {data[:300]!r}")
        return 1
    print(f"POST /v2/apps ({a.instances} instances) answered {st} in {t_post * 1000:.1f} ms", flush=True)
    path = "/v2/apps" + a.app
    deadline = t0 + a.timeout
    marks = {}
    running = staged = 0
    while True:
        st, data = c.call("GET", path)
        now = time.monotonic()
        if st == 200:
            app = json.loads(data)["app"]
            running, staged = app.get("tasksRunning", 0), app.get("tasksStaged", 0)
            for frac in (0.1, 0.5, 0.9):
                if running >= frac * a.instances and frac not in marks:
                    marks[frac] = now - t0
            if running >= a.instances:
                break
        if now > deadline:
            print(f"TIMEOUT after {a.timeout:.0f} s: {running} running, {staged} staged")
            return 1
        time.sleep(0.1)
    t = now - t0
    print("progress: " + ", ".join(f"{int(f * 100)}% at {s:.2f} s" for f, s in sorted(marks.items())))
    print(f"RESULT all {a.instances} instances TASK_RUNNING {t:.2f} s after the POST "
          f"({a.instances / t:.0f} tasks/s){mw.report(a.master_total) if a.master else ''}", flush=True)
    return 0


def cmd_many(a):
    lock = threading.Lock()
    ids = iter(range(a.apps))
    post_lat, errors = [], []

    def worker():
        c = Client(a.server)
        while True:
            with lock:
                i = next(ids, None)
            if i is None:
                return
            if a.rate > 0:
                # App i is due at t0 + i / rate.
                time.sleep(max(0.0, t0 + i / a.rate - time.monotonic()))
            body = app_def(f"{a.prefix}/app-{i:04d}", a.instances, a.cpus, a.mem, a.ports)
            t = time.monotonic()
            try:
                st, data = c.call("POST", "/v2/apps", body)
            except Exception as e:
                st, data = 0, repr(e).encode()
            dt = time.monotonic() - t
            with lock:
                if st in (200, 201):
                    post_lat.append(dt)
                else:
                    errors.append(f"app-{i}: HTTP {st}: {data[:200]!r}")

    t0 = time.monotonic()
    mw = MasterWatch(a.master, a.master_total, t0, 0.5)
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_posts = time.monotonic() - t0
    print(f"POSTed {len(post_lat)} apps ({a.instances} instances each) in {t_posts:.2f} s with "
          f"{a.concurrency} threads; POST latency p50 {pct(post_lat, 50) * 1000:.1f} ms, "
          f"p99 {pct(post_lat, 99) * 1000:.1f} ms", flush=True)
    if errors:
        print(f"POST errors: {len(errors)}; first: {errors[:3]}")
    want = len(post_lat) * a.instances
    c = Client(a.server, timeout=300)
    deadline = t0 + a.timeout
    last_print = 0
    while True:
        st, data = c.call("GET", "/v2/apps?id=" + a.prefix)
        now = time.monotonic()
        if st == 200:
            apps = json.loads(data)["apps"]
            running = sum(x.get("tasksRunning", 0) for x in apps)
            staged = sum(x.get("tasksStaged", 0) for x in apps)
            if running >= want:
                break
            if now - last_print > 10:
                print(f"  {now - t0:.0f} s: {running} running, {staged} staged", flush=True)
                last_print = now
        if now > deadline:
            print(f"TIMEOUT after {a.timeout:.0f} s: Marathon reports {running} of {want} running, "
                  f"{staged} staged{mw.report(a.master_total) if a.master else ''}")
            return 1
        time.sleep(0.5)
    t = now - t0
    print(f"RESULT {len(post_lat)} apps x {a.instances} = {want} tasks TASK_RUNNING {t:.1f} s "
          f"after the first POST ({want / t:.0f} tasks/s)"
          f"{mw.report(a.master_total) if a.master else ''}", flush=True)
    return 1 if errors else 0


def cmd_latency(a):
    c = Client(a.server, timeout=300)
    lat = []
    size = 0
    for _ in range(a.n):
        t = time.monotonic()
        st, data = c.call("GET", a.path)
        lat.append(time.monotonic() - t)
        if st != 200:
            print(f"GET {a.path}: HTTP {st}")
            return 1
        size = len(data)
    print(f"RESULT GET {a.path} x{a.n} ({size / 1e6:.2f} MB each): p50 {pct(lat, 50) * 1000:.1f} ms, "
          f"p90 {pct(lat, 90) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, "
          f"max {max(lat) * 1000:.1f} ms", flush=True)
    return 0


def cmd_spread(a):
    c = Client(a.server, timeout=300)
    st, data = c.call("GET", a.path)
    if st != 200:
        print(f"GET {a.path}: HTTP {st}")
        return 1
    v = json.loads(data)
    tasks = v["app"]["tasks"] if "app" in v else v["tasks"]
    per = {}
    for t in tasks:
        per[t["slaveId"]] = per.get(t["slaveId"], 0) + 1
    if len(per) <= 4:
        shown = ", ".join(f"{n} on {agent[-8:]}" for agent, n in sorted(per.items()))
    else:
        n = sorted(per.values())
        shown = f"per agent min {n[0]}, median {n[len(n) // 2]}, max {n[-1]}"
    print(f"RESULT {a.path}: {len(tasks)} tasks over {len(per)} agents: {shown}", flush=True)
    return 0


def cmd_counters(a):
    c = Client(a.server)
    st, data = c.call("GET", "/metrics")
    if st != 200:
        print(f"GET /metrics: HTTP {st}")
        return 1
    v = json.loads(data)
    counters = {k[len("marathon."):-len(".counter")]: x["count"] for k, x in v["counters"].items()}
    print("marathon counters: " + ", ".join(f"{k} {n}" for k, n in sorted(counters.items())), flush=True)
    gauges = {k[len("marathon."):-len(".gauge")]: x["value"] for k, x in v["gauges"].items()}
    print("marathon gauges: " + ", ".join(f"{k} {n}" for k, n in sorted(gauges.items())), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("big", "many"):
        p = sub.add_parser(name)
        p.add_argument("--instances", type=int, required=True)
        p.add_argument("--cpus", type=float, default=0.01)
        p.add_argument("--mem", type=float, default=8)
        p.add_argument("--ports", type=int, default=1, help="1: Marathon's default one port")
        p.add_argument("--timeout", type=float, default=600)
        p.add_argument("--master", help="host:port: also time when the master has them running")
        p.add_argument("--master-total", type=int, default=0,
                       help="master/tasks_running to wait for (all of the framework's tasks)")
    sub.choices["big"].add_argument("--app", default="/bench/big")
    sub.choices["many"].add_argument("--apps", type=int, required=True)
    sub.choices["many"].add_argument("--prefix", default="/many")
    sub.choices["many"].add_argument("--concurrency", type=int, default=8)
    sub.choices["many"].add_argument("--rate", type=float, default=0,
                                     help="app POSTs per second (0: as fast as the threads go)")
    p = sub.add_parser("latency")
    p.add_argument("--path", default="/v2/apps")
    p.add_argument("--n", type=int, default=200)
    sub.add_parser("spread").add_argument("--path", default="/v2/tasks")
    sub.add_parser("counters")
    a = ap.parse_args()
    return {"big": cmd_big, "many": cmd_many, "latency": cmd_latency, "spread": cmd_spread,
            "counters": cmd_counters}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
