#!/usr/bin/env python3
"""Load generator behind scripts/bench-kubernetes.sh (standard library only).

Against a running `strata kubernetes` at --server it measures:
  1. creates: N pods POSTed by C threads over keep-alive connections; latency of
     every POST (p50/p90/p99/max) and creates/s;
  2. list: the latency of a full LIST of the namespace's pods (N objects);
  3. watch fan-out: W watchers (GET ...pods?watch=true&resourceVersion=<list RV>,
     in their own process, one asyncio loop) while M more pods are created by C
     threads; for every (watcher, pod) pair the delay from the moment the creating
     client got its 201 to the moment the watcher read the ADDED event, and the
     time until every watcher had seen every event.
RSS of the server is sampled at the points given with --pid.
"""

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import re
import statistics
import sys
import threading
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s():
    t = os.times()
    return t.user + t.system


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def pod_body(name):
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench", "tier": "load"}},
        "spec": {"containers": [{
            "name": "c",
            "image": "nginx:1.27",
            "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}},
        }]},
    }).encode()


def create_pods(host, port, ns, names, concurrency, done_at=None, sent_at=None):
    """POSTs one pod per name from `concurrency` threads. Returns (latencies s, errors, wall s)."""
    lat = []
    errors = []
    lock = threading.Lock()
    it = iter(names)

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        mine = []
        while True:
            with lock:
                name = next(it, None)
            if name is None:
                break
            body = pod_body(name)
            t0 = time.monotonic()
            if sent_at is not None:
                sent_at[name] = t0
            try:
                conn.request("POST", f"/api/v1/namespaces/{ns}/pods", body,
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
            except Exception as e:  # connection reset etc.: count, reconnect
                t1 = time.monotonic()
                with lock:
                    errors.append(f"{name}: {type(e).__name__}: {e}")
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
                continue
            t1 = time.monotonic()
            if r.status != 201:
                with lock:
                    errors.append(f"{name}: HTTP {r.status}: {data[:200]!r}")
                continue
            mine.append(t1 - t0)
            if done_at is not None:
                done_at[name] = t1
        conn.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors, time.monotonic() - t0


def list_rv(host, port, ns):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    conn.request("GET", f"/api/v1/namespaces/{ns}/pods?limit=1")
    r = conn.getresponse()
    doc = json.loads(r.read())
    conn.close()
    return doc["metadata"]["resourceVersion"]


def timed_full_list(host, port, ns):
    conn = http.client.HTTPConnection(host, port, timeout=300)
    t0 = time.monotonic()
    conn.request("GET", f"/api/v1/namespaces/{ns}/pods")
    r = conn.getresponse()
    data = r.read()
    dt = time.monotonic() - t0
    conn.close()
    n = len(json.loads(data)["items"]) if r.status == 200 else -1
    return dt, n, len(data)


TYPE_RE = re.compile(rb'"type":"(ADDED|MODIFIED|DELETED|ERROR|BOOKMARK)"')


def watcher_process(host, port, ns, rv, n_watchers, prefix, expect, q, ready, deadline_s):
    """Runs W watches in one asyncio loop; reports {watcher: {name: t_seen}} through q."""

    name_re = re.compile(rb'"name":"(' + re.escape(prefix.encode()) + rb'[^"]*)"')

    async def one(i, seen, errors):
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
            path = (f"/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={rv}"
                    f"&timeoutSeconds={int(deadline_s) + 60}")
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         "Accept: application/json\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                errors.append(f"watcher {i}: {head[:200]!r}")
                return
            chunked = b"chunked" in head.lower()
            buf = b""
            ready.release()
            while len(seen) < expect:
                if chunked:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.strip().split(b";")[0], 16)
                    if size == 0:
                        break
                    chunk = await reader.readexactly(size + 2)
                    buf += chunk[:-2]
                else:
                    chunk = await reader.read(1 << 16)
                    if not chunk:
                        break
                    buf += chunk
                now = time.monotonic()
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    line, buf = buf[:nl], buf[nl + 1:]
                    m = TYPE_RE.search(line)
                    if not m:
                        continue
                    ty = m.group(1)
                    n = name_re.search(line)
                    name = n.group(1).decode() if n else ""
                    if ty == b"ADDED" and name.startswith(prefix):
                        seen.setdefault(name, now)
                    elif ty == b"ERROR":
                        errors.append(f"watcher {i}: ERROR event {line[:300]!r}")
                        return
            writer.close()
        except Exception as e:
            errors.append(f"watcher {i}: {type(e).__name__}: {e}")

    async def main():
        seen = [dict() for _ in range(n_watchers)]
        errors = []
        tasks = [asyncio.create_task(one(i, seen[i], errors)) for i in range(n_watchers)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=deadline_s)
        except asyncio.TimeoutError:
            errors.append("watchers timed out")
        return seen, errors

    seen, errors = asyncio.run(main())
    q.put((seen, errors))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="127.0.0.1:8888")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--watch-pods", type=int, default=1000)
    ap.add_argument("--watch-concurrency", type=int, default=None,
                    help="creating threads during the fan-out (default: --concurrency)")
    ap.add_argument("--pid", type=int, help="the server's pid, for VmRSS")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    port = int(port)
    ns = a.namespace
    run = f"{int(time.time()) % 100000}"
    ok = True

    def rss(label):
        if a.pid:
            print(f"rss {label}: {rss_kb(a.pid) / 1024:.1f} MB", flush=True)

    rss("idle")
    # 1. creates
    names = [f"bench-{run}-{i:05d}" for i in range(a.pods)]
    s0, c0 = (cpu_s(a.pid) if a.pid else 0), self_cpu_s()
    lat, errors, wall = create_pods(host, port, ns, names, a.concurrency)
    s1, c1 = (cpu_s(a.pid) if a.pid else 0), self_cpu_s()
    print(f"creates: {len(lat)} of {a.pods} pods, {a.concurrency} client threads, "
          f"{wall:.2f} s, {len(lat) / wall:.0f} creates/s", flush=True)
    print(f"create latency: p50 {pct(lat, 50) * 1000:.1f} ms, p90 {pct(lat, 90) * 1000:.1f} ms, "
          f"p99 {pct(lat, 99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms, "
          f"mean {statistics.mean(lat) * 1000:.1f} ms", flush=True)
    if a.pid:
        print(f"cpu during creates: server {s1 - s0:.1f} s ({(s1 - s0) / max(1, len(lat)) * 1e6:.0f} us/create), "
              f"load generator {c1 - c0:.1f} s, over {wall:.1f} s wall on {os.cpu_count()} cores", flush=True)
    if errors:
        ok = False
        print(f"create errors: {len(errors)}; first: {errors[:3]}", flush=True)
    time.sleep(1)
    rss(f"holding {len(lat)} pods")

    # 2. list
    dt, n, size = timed_full_list(host, port, ns)
    print(f"full LIST of {n} pods: {dt * 1000:.0f} ms, {size / 1e6:.1f} MB of JSON", flush=True)
    rss(f"after a full LIST")

    # 3. watch fan-out
    if a.watchers > 0 and a.watch_pods > 0:
        rv = list_rv(host, port, ns)
        prefix = f"fan-{run}-"
        wnames = [f"{prefix}{i:05d}" for i in range(a.watch_pods)]
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        ready = ctx.Semaphore(0)
        proc = ctx.Process(target=watcher_process,
                           args=(host, port, ns, rv, a.watchers, prefix, a.watch_pods, q, ready,
                                 a.timeout))
        proc.start()
        t_wait = time.monotonic() + 60
        connected = 0
        while connected < a.watchers and time.monotonic() < t_wait:
            if ready.acquire(timeout=1):
                connected += 1
        print(f"watchers connected: {connected} of {a.watchers} (from resourceVersion {rv})",
              flush=True)
        rss(f"with {connected} idle watches")
        done_at, sent_at = {}, {}
        s0, c0 = (cpu_s(a.pid) if a.pid else 0), self_cpu_s()
        w0 = cpu_s(proc.pid)
        t_start = time.monotonic()
        wl, werr, wwall = create_pods(host, port, ns, wnames, a.watch_concurrency or a.concurrency,
                                      done_at, sent_at)
        print(f"creates during fan-out: {len(wl)} pods in {wwall:.2f} s "
              f"({len(wl) / wwall:.0f} creates/s), latency p50 {pct(wl, 50) * 1000:.1f} ms, "
              f"p99 {pct(wl, 99) * 1000:.1f} ms", flush=True)
        if werr:
            ok = False
            print(f"create errors during fan-out: {len(werr)}; first: {werr[:3]}", flush=True)
        seen, errors = q.get(timeout=a.timeout + 120)
        s1, c1, w1 = (cpu_s(a.pid) if a.pid else 0), self_cpu_s(), cpu_s(proc.pid)
        if a.pid:
            print(f"cpu during fan-out: server {s1 - s0:.1f} s, watcher process {w1 - w0:.1f} s, "
                  f"creator {c1 - c0:.1f} s, over {time.monotonic() - t_start:.1f} s wall", flush=True)
        proc.join(30)
        lags, lags_sent = [], []
        missing = 0
        last_seen = t_start
        for s in seen:
            for name, t_done in done_at.items():
                t = s.get(name)
                if t is None:
                    missing += 1
                    continue
                lags.append(t - t_done)
                lags_sent.append(t - sent_at[name])
                last_seen = max(last_seen, t)
        full = len(seen) * len(done_at)
        print(f"fan-out: {a.watchers} watchers x {len(done_at)} pods = {full} ADDED events expected, "
              f"{len(lags)} seen, {missing} missing", flush=True)
        if lags:
            print(f"delivery lag (watcher read - creator's 201): p50 {pct(lags, 50) * 1000:.1f} ms, "
                  f"p90 {pct(lags, 90) * 1000:.1f} ms, p99 {pct(lags, 99) * 1000:.1f} ms, "
                  f"max {max(lags) * 1000:.1f} ms, min {min(lags) * 1000:.1f} ms", flush=True)
            print(f"delivery lag (watcher read - creator's POST sent): p50 {pct(lags_sent, 50) * 1000:.1f} ms, "
                  f"p90 {pct(lags_sent, 90) * 1000:.1f} ms, p99 {pct(lags_sent, 99) * 1000:.1f} ms, "
                  f"max {max(lags_sent) * 1000:.1f} ms", flush=True)
            print(f"every watcher saw every pod {last_seen - t_start:.2f} s after the first create "
                  f"(creates took {wwall:.2f} s); {len(lags) / (last_seen - t_start):.0f} events/s "
                  f"delivered", flush=True)
        if errors or missing:
            ok = False
            print(f"watch errors: {len(errors)}; first: {errors[:3]}", flush=True)
        rss(f"after the fan-out ({a.pods + len(done_at)} pods)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
