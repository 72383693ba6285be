"""A seeded chaos soak of the taskwatch binary, run as a black box.

    Tests/Chaos/run --seed 1 --seconds 30          # what scripts/test runs (with seed 2 too)
    Tests/Chaos/run --seed 7 --minutes 10          # a long run
    Tests/Chaos/run --help

One private redis-server on a free loopback port; between it and taskwatch,
a TCP proxy the soak owns (chaos_proxy.py). Thousands of tasks live and die
as Celery writes them (celery_publisher.py, straight to Redis), while faults
are injected at times drawn from the seed: cuts (FIN or RST), refused
reconnects, blackholes, delayed replies (also right after a cut, so the
resubscribe's confirmations and the resync's MGET replies come late), Redis
restarts with SAVE, CLIENT KILL TYPE pubsub and normal, and a tiny pub/sub
output-buffer limit during a pipelined burst. Two watchers run through the
proxy at once: one given every id on stdin, one with --all. Their output is
then checked (checker.py). Exit status 0: no violation; 1: violations; 2:
the harness itself failed.

The seed fixes the task lives and the fault schedule; the interleaving of
messages with faults is up to the machine, so a failing seed usually, not
always, fails again.
"""

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import checker
from celery_publisher import PREFIX, Publisher, RESPConnection, plan_tasks
from chaos_proxy import ChaosProxy

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "Tests", "Interop"))
import harness  # noqa: E402  (free ports and stop-by-PID, shared with the interop tests)

HEALTH_INTERVAL = 1.0  # --health-interval: a blackhole is noticed within ~3 s
DEFAULT_BUFFER_LIMIT = "pubsub 32mb 8mb 60"
TINY_BUFFER_LIMIT = "pubsub 1kb 1kb 0"
FAULT_KINDS = {  # kind: weight
    "cut": 3, "refuse": 2, "blackhole": 2, "delay": 2, "cut+delay": 3,
    "restart": 1, "kill-pubsub": 2, "kill-normal": 2, "burst": 2,
}


class RedisProcess:
    """redis-server on one loopback port, restartable on that port with its data."""

    def __init__(self, directory):
        self.dir = directory
        self.port = None
        self.proc = None

    def start(self, port=None):
        for _attempt in range(3):
            self.port = port or harness.free_loopback_port()
            if self.port == 6379:
                continue
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                 "--save", "", "--appendonly", "no", "--dbfilename", "dump.rdb",
                 "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if harness._redis_ping(self.port):
                    return self
                time.sleep(0.02)
            harness.stop_pid(self.proc)
            if port:
                break
        raise RuntimeError("redis-server did not start (see %s/redis.log)" % self.dir)

    def command(self, *args, attempts=5):
        """One command on a connection of its own; retried when the connection
        is lost (a `CLIENT KILL TYPE normal` fault at the same moment kills it
        too). Every command sent here is idempotent."""
        for attempt in range(attempts):
            try:
                admin = RESPConnection(self.port)
            except OSError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05)
                continue
            try:
                return admin.command(*args)
            except (ConnectionError, OSError):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05)
            finally:
                admin.close()

    def restart_with_save(self):
        """SAVE, stop by PID, start again on the same port; the data comes back from dump.rdb."""
        if self.command("SAVE") != "OK":
            raise RuntimeError("SAVE failed")
        harness.stop_pid(self.proc)
        self.start(self.port)

    def stop(self):
        harness.stop_pid(self.proc)
        self.proc = None


class Watcher:
    """One taskwatch process; stdout and stderr lines are kept with their arrival times."""

    def __init__(self, name, argv, stdin_text=None):
        self.name = name
        self.stdout = []
        self.stderr = []
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, errors="replace",
                                     start_new_session=True)
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True)]
        for thread in self._threads:
            thread.start()
        if stdin_text is not None:
            self.proc.stdin.write(stdin_text)
        self.proc.stdin.close()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append((time.monotonic(), line.rstrip("\n")))

    def wait(self, timeout):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            harness.stop_pid(self.proc)
            code = "killed after %.0fs" % timeout
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    def stop(self):
        harness.stop_pid(self.proc)


def plan_faults(rng, seconds):
    """[(offset, kind, parameters)] between 5% and 80% of the run, about one per 3 s,
    some of them at the same moment."""
    faults, kinds = [], list(FAULT_KINDS)
    weights = [FAULT_KINDS[kind] for kind in kinds]
    at = 0.05 * seconds
    while at < 0.8 * seconds:
        kind = rng.choices(kinds, weights)[0]
        parameters = {
            "cut": lambda: {"reset": rng.random() < 0.5},
            "refuse": lambda: {"seconds": rng.uniform(0.5, 4.0)},
            "blackhole": lambda: {"seconds": rng.uniform(1.0, 5.0)},
            "delay": lambda: {"delay": rng.uniform(0.2, 1.5), "seconds": rng.uniform(2.0, 6.0)},
            "cut+delay": lambda: {"reset": rng.random() < 0.5, "delay": rng.uniform(0.3, 1.8),
                                  "seconds": 3.0},
            "burst": lambda: {"count": rng.randrange(300, 900)},
        }.get(kind, dict)()
        faults.append((at, kind, parameters))
        if rng.random() > 0.2:  # else the next one comes at the same moment
            at += rng.uniform(1.0, 5.0)
    return faults


class FaultInjector:
    """Carries out the planned faults at their times, on the proxy and on Redis."""

    def __init__(self, faults, proxy, redis, publisher):
        self.faults = faults
        self.proxy = proxy
        self.redis = redis
        self.publisher = publisher
        self.done = collections.Counter()
        self.log = []
        self.error = None

    def run(self, start, stop_event):
        try:
            for offset, kind, parameters in self.faults:
                while time.monotonic() < start + offset:
                    if stop_event.wait(0.01):
                        return
                self.log.append((time.monotonic(), kind, parameters))
                self._inject(kind, parameters)
                self.done[kind] += 1
        except Exception as error:  # reported as a harness failure
            self.error = "%s: %s" % (type(error).__name__, error)

    def _inject(self, kind, p):
        if kind == "cut":
            self.proxy.cut(reset=p["reset"])
        elif kind == "refuse":
            self.proxy.refuse(p["seconds"])
        elif kind == "blackhole":
            self.proxy.blackhole(p["seconds"])
        elif kind == "delay":
            self.proxy.delay_replies(p["delay"], p["seconds"])
        elif kind == "cut+delay":
            self.proxy.delay_replies(p["delay"], p["seconds"])
            self.proxy.cut(reset=p["reset"])
        elif kind == "restart":
            with self.publisher.pause:  # no write may land between SAVE and the stop
                self.redis.restart_with_save()
        elif kind == "kill-pubsub":
            self.redis.command("CLIENT", "KILL", "TYPE", "pubsub")
        elif kind == "kill-normal":
            self.redis.command("CLIENT", "KILL", "TYPE", "normal")
        elif kind == "burst":
            self.publisher.request_burst(
                p["count"],
                lambda: self.redis.command("CONFIG", "SET", "client-output-buffer-limit", TINY_BUFFER_LIMIT),
                lambda: self.redis.command("CONFIG", "SET", "client-output-buffer-limit", DEFAULT_BUFFER_LIMIT))


def split_history(rng, tasks, share=0.08):
    """Moves the first steps of some tasks before the watchers start: {id: [(state, payload)]}."""
    history = {}
    for task_id in rng.sample(sorted(tasks), int(len(tasks) * share)):
        steps = tasks[task_id]
        cut = rng.randrange(1, len(steps) + 1)
        history[task_id] = [(state, payload) for _, state, payload in steps[:cut]]
        rest = steps[cut:]
        if rest:
            base = rest[0][0] - rng.uniform(0.0, 2.0)
            tasks[task_id] = [(at - base, state, payload) for at, state, payload in rest]
        else:
            tasks[task_id] = []
    return history


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out after %.0fs waiting for %s" % (timeout, what))


def keep_streams(directory, begin, watchers, published, deliveries, faults, reports):
    """Writes what a failing run is diagnosed from, every time in seconds from
    the start of publishing: each watcher's stdout and stderr lines
    (`<name>.stdout`, `<name>.stderr`), every committed step
    (`published.tsv`: time, task, payload), every pmessage the proxy handed to
    the --all watcher (`deliveries.tsv`: time, task, maybe unread 0/1,
    payload), the faults as injected (`faults.tsv`) and the checker's reports
    (`report.txt`)."""
    def write(name, rows):
        with open(os.path.join(directory, name), "w") as f:
            f.writelines(rows)

    for watcher in watchers:
        for stream in ("stdout", "stderr"):
            write("%s.%s" % (watcher.name, stream),
                  ("%.3f %s\n" % (at - begin, line) for at, line in getattr(watcher, stream)))
    write("published.tsv", ("%.3f\t%s\t%s\n" % (at, task_id, payload)
                            for task_id, steps in sorted(published.items()) for at, payload in steps))
    write("deliveries.tsv", ("%.3f\t%s\t%d\t%s\n" % (at, task_id, maybe_unread, payload)
                             for task_id, steps in sorted(deliveries.items())
                             for at, payload, maybe_unread in steps))
    write("faults.tsv", ("%.3f\t%s\t%s\n" % (at - begin, kind, json.dumps(parameters, sort_keys=True))
                         for at, kind, parameters in faults))
    write("report.txt", (report.summary(limit=1000) + "\n" for report in reports))


def soak(seed, seconds, task_count, taskwatch, keep, with_all=True):
    rng = random.Random(seed)
    tasks = plan_tasks(rng, task_count, seconds)
    history = split_history(rng, tasks)
    faults = plan_faults(random.Random("faults-%d" % seed), seconds)
    task_ids = sorted(tasks)
    print("soak: seed %d, %d tasks, %d steps, %d faults over %.0fs; %s"
          % (seed, len(tasks), sum(len(s) for s in tasks.values()) + sum(len(h) for h in history.values()),
             len(faults), seconds, taskwatch), flush=True)

    directory = tempfile.mkdtemp(prefix="taskwatch-chaos-")
    redis = RedisProcess(directory).start()
    proxy = ChaosProxy(redis.port, harness.free_loopback_port()).start()
    publisher = Publisher(redis.port, tasks)
    injector = FaultInjector(faults, proxy, redis, publisher)
    watchers, stop_event, threads = [], threading.Event(), []
    try:
        for task_id, steps in history.items():
            publisher.publish_now(task_id, steps)
        url = "redis://127.0.0.1:%d/0" % proxy.port
        common = [taskwatch, "--url", url, "--format", "json", "--health-interval", "%gs" % HEALTH_INTERVAL,
                  "--connect-timeout", "2s", "--retry-for", "60s"]
        ids_timeout = seconds + 60
        all_timeout = seconds + 12
        ids = Watcher("ids", common + ["--timeout", "%ds" % ids_timeout, "-"], "\n".join(task_ids) + "\n")
        watchers.append(ids)
        every = None
        if with_all:
            every = Watcher("all", common + ["--all", "--timeout", "%ds" % all_timeout])
            watchers.append(every)
        started = time.monotonic()
        wait_for(lambda: len(ids.stdout) >= len(task_ids), 60, "the ids watcher's snapshot lines")
        if every:
            wait_for(lambda: redis.command("PUBSUB", "NUMPAT") >= 1, 30, "the --all watcher's PSUBSCRIBE")
        subscribed_at = time.monotonic()

        begin = time.monotonic()
        threads = [threading.Thread(target=publisher.run, args=(begin, stop_event), daemon=True),
                   threading.Thread(target=injector.run, args=(begin, stop_event), daemon=True)]
        for thread in threads:
            thread.start()
        threads[0].join(timeout=seconds + 120)
        if threads[0].is_alive():
            raise RuntimeError("the publisher did not finish")
        if publisher.finished_at is None:
            raise RuntimeError("the publisher failed (its traceback is above)")
        threads[1].join(timeout=30)
        ids_code = ids.wait(timeout=max(1.0, started + ids_timeout + 10 - time.monotonic()))
        all_code = None
        if every:
            all_code = every.wait(timeout=max(1.0, started + all_timeout + 10 - time.monotonic()))
            wait_for(lambda: proxy.pattern_links() == 0, 10, "the proxy to close the --all watcher's link")
        if proxy.error:
            raise RuntimeError("the proxy failed: " + proxy.error)
        if injector.error:
            raise RuntimeError("fault injection failed: " + injector.error)
        if every and publisher.finished_at > started + all_timeout - 4:
            raise RuntimeError("the publisher finished %.1fs after the --all watcher's start, too close to "
                               "its --timeout (%ds)" % (publisher.finished_at - started, all_timeout))

        # Times from here on are seconds from the start of publishing.
        published = {task_id: [(at - begin, payload) for at, payload in steps]
                     for task_id, steps in publisher.published.items()}
        deliveries = collections.defaultdict(list)
        for at, channel, payload, maybe_unread in proxy.pattern_deliveries():
            deliveries[channel[len(PREFIX):]].append((at - begin, payload, maybe_unread))
        reports = [checker.check("ids", task_ids, published, ids.stdout, ids_code)]
        if every:
            reports.append(checker.check("all", task_ids, published, every.stdout, all_code,
                                         subscribed_at=subscribed_at - begin, deliveries=deliveries))
        messages = sum(len(steps) for steps in publisher.published.values())
        print("soak: seed %d published %d messages (%d before the watchers started), %d publisher reconnects;"
              " faults injected: %s; proxy: %d connections, %d closed by Redis"
              % (seed, messages, sum(len(h) for h in history.values()), publisher.errors,
                 ", ".join("%s %d" % (kind, n) for kind, n in sorted(injector.done.items())),
                 proxy.accepted, proxy.server_closed), flush=True)
        for watcher, code in ((ids, ids_code), (every, all_code)) if every else ((ids, ids_code),):
            lost = sum(1 for _, line in watcher.stderr if "reconnecting (for up to" in line)
            print("soak: %s watcher exited %s after %d lost links" % (watcher.name, code, lost), flush=True)
        for report in reports:
            print(report.summary(), flush=True)
        print("soak: faults (s from the start): %s" % ", ".join(
            "%.2f %s" % (at - begin, kind) for at, kind, _ in injector.log), flush=True)
        if keep:
            keep_streams(directory, begin, watchers, published, deliveries, injector.log, reports)
            print("soak: kept %s" % directory, flush=True)
        return 0 if all(report.ok for report in reports) else 1
    finally:
        stop_event.set()
        for watcher in watchers:
            watcher.stop()
        proxy.stop()
        redis.stop()
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, action="append", help="repeatable; default 1")
    parser.add_argument("--seconds", type=float, default=30.0, help="publishing span (default 30)")
    parser.add_argument("--minutes", type=float, help="publishing span in minutes (overrides --seconds)")
    parser.add_argument("--tasks", type=int, help="default: 100 per second of the span")
    parser.add_argument("--taskwatch", default=os.environ.get("TASKWATCH_BIN") or os.path.join(
        REPO_ROOT, ".build-static", "ship", "taskwatch"), help="the binary (default: scripts/build-release's)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory with every stream")
    parser.add_argument("--ids-only", action="store_true",
                        help="run only the watcher given the ids, not the --all one")
    args = parser.parse_args()
    seconds = args.minutes * 60 if args.minutes else args.seconds
    if not os.access(args.taskwatch, os.X_OK):
        parser.error("no taskwatch binary at %s (scripts/build-release makes it)" % args.taskwatch)
    status = 0
    for seed in args.seed or [1]:
        try:
            result = soak(seed, seconds, args.tasks or int(100 * seconds), args.taskwatch, args.keep,
                          with_all=not args.ids_only)
        except RuntimeError as error:
            print("soak: seed %d: harness failure: %s" % (seed, error), flush=True)
            result = 2
        print("soak: seed %d: %s" % (seed, {0: "PASS", 1: "FAIL", 2: "ERROR"}[result]), flush=True)
        status = max(status, result)
    return status


if __name__ == "__main__":
    sys.exit(main())
