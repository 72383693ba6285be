"""`taskwatch --all` over a long feed: RSS sampled every 100,000 tasks.

    Benchmarks/feed-rss                      # 1,000,000 tasks (~2 min on 2 cores)
    Benchmarks/feed-rss --tasks 300000       # shorter
    Benchmarks/feed-rss --taskwatch PATH     # another binary

One private redis-server on a free loopback port (no pub/sub output-buffer
limit, so a watcher that falls behind is not cut off). Each task is published
as Celery does, SET then PUBLISH, twice: STARTED, then SUCCESS 1,000 tasks
later, so about 1,000 tasks are in flight at any time. The keys expire after
60 s, so Redis's own memory stays flat too. The publisher keeps at most
50,000 tasks ahead of the ready lines taskwatch has printed. Each time the
count of ready lines passes a multiple of the sample interval, taskwatch's
VmRSS is read from /proc. The target (issue #16): after the first 100,000
tasks, every sample within ±10 % of the one at 100,000.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "Tests", "Interop"))
import harness  # noqa: E402  (free ports and stop-by-PID)

PREFIX = "celery-task-meta-"
IN_FLIGHT = 1000
AHEAD = 50000


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def payload(task_id, state):
    result = "42" if state == "SUCCESS" else "null"
    return ('{"status": "%s", "result": %s, "traceback": null, "children": [], '
            '"date_done": null, "task_id": "%s"}' % (state, result, task_id)).encode()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=100_000, help="sample interval in tasks (default 100,000)")
    parser.add_argument("--taskwatch", default=os.environ.get("TASKWATCH_BIN") or os.path.join(
        REPO_ROOT, ".build-static", "ship", "taskwatch"))
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="taskwatch-feed-rss-")
    port = harness.free_loopback_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
         "--appendonly", "no", "--client-output-buffer-limit", "pubsub 0 0 0", "--logfile",
         os.path.join(directory, "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    watcher = None
    try:
        deadline = time.monotonic() + 10
        while not harness._redis_ping(port):
            if time.monotonic() > deadline:
                raise SystemExit("feed-rss: redis-server did not start")
            time.sleep(0.02)
        watcher = subprocess.Popen(
            [args.taskwatch, "--url", "redis://127.0.0.1:%d/0" % port, "--all", "--format", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        ready = [0]
        samples = []

        def read_lines():
            next_sample = args.every
            for line in watcher.stdout:
                if b'"ready":true' in line:
                    ready[0] += 1
                    if ready[0] == next_sample:
                        samples.append((ready[0], rss_kib(watcher.pid)))
                        next_sample += args.every

        reader = threading.Thread(target=read_lines, daemon=True)
        reader.start()

        publisher = socket.create_connection(("127.0.0.1", port))
        drain = threading.Thread(target=lambda: [None for _ in iter(lambda: publisher.recv(1 << 16), b"")],
                                 daemon=True)
        drain.start()
        while True:  # the watcher's PSUBSCRIBE is in place
            probe = socket.create_connection(("127.0.0.1", port))
            probe.sendall(command("PUBSUB", "NUMPAT"))
            subscribed = probe.recv(64).startswith(b":1")
            probe.close()
            if subscribed:
                break
            time.sleep(0.05)

        ids = [str(uuid.uuid4()) for _ in range(args.tasks)]
        started = time.monotonic()
        batch = 500
        for start in range(0, args.tasks + IN_FLIGHT, batch):
            while start - ready[0] > AHEAD:
                time.sleep(0.01)
            out = []
            for number in range(start, start + batch):
                for task_number, state in ((number, "STARTED"), (number - IN_FLIGHT, "SUCCESS")):
                    if 0 <= task_number < args.tasks:
                        key = PREFIX + ids[task_number]
                        body = payload(ids[task_number], state)
                        out.append(command("SET", key, body, "EX", 60))
                        out.append(command("PUBLISH", key, body))
            publisher.sendall(b"".join(out))
        deadline = time.monotonic() + 120
        while ready[0] < args.tasks and time.monotonic() < deadline and watcher.poll() is None:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        print("feed-rss: %d tasks (%d messages) through taskwatch --all in %.1f s; %s"
              % (ready[0], 2 * ready[0], elapsed, args.taskwatch))
        print("%12s  %10s  %s" % ("tasks ready", "RSS (MB)", "vs the sample at %d" % args.every))
        base = samples[0][1] if samples else 0
        worst = 0.0
        for tasks, kib in samples:
            change = (kib - base) / base * 100 if base else 0.0
            worst = max(worst, abs(change))
            print("%12d  %10.1f  %+.1f %%" % (tasks, kib / 1024, change))
        verdict = "within" if worst <= 10 else "OUTSIDE"
        print("feed-rss: largest change after the first sample: %.1f %% (%s the ±10 %% target)" % (worst, verdict))
        return 0 if ready[0] >= args.tasks and worst <= 10 else 1
    finally:
        harness.stop_pid(watcher)
        harness.stop_pid(redis)


if __name__ == "__main__":
    sys.exit(main())
