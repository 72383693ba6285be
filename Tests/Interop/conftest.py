"""Session fixtures for the Celery interop tests: one private redis-server on
a free loopback port, one Celery worker per result configuration (all started
in parallel, each on its own queue), and a runner for the taskwatch binary.

Run with Tests/Interop/run (or `.venv/bin/python -m pytest -q Tests/Interop`).
The binary is $TASKWATCH_BIN, default .build/debug/taskwatch in the repo root.
"""

import json
import os
import queue
import subprocess
import threading
import time
import uuid

import pytest
import redis

import harness

READY_STATES = {"SUCCESS", "FAILURE", "REVOKED"}

# name -> (DEMO_* settings, pool). The queue is the worker's name.
WORKER_SETTINGS = {
    "json": ({}, "solo"),
    "extended": ({"DEMO_RESULT_EXTENDED": "1"}, "solo"),
    "msgpack": ({"DEMO_RESULT_SERIALIZER": "msgpack"}, "solo"),
    "pickle": ({"DEMO_RESULT_SERIALIZER": "pickle"}, "solo"),
    "zlib": ({"DEMO_RESULT_COMPRESSION": "zlib"}, "solo"),
    "gzip": ({"DEMO_RESULT_COMPRESSION": "gzip"}, "solo"),
    "bzip2": ({"DEMO_RESULT_COMPRESSION": "bzip2"}, "solo"),
    "lzma": ({"DEMO_RESULT_COMPRESSION": "lzma"}, "solo"),
    "brotli": ({"DEMO_RESULT_COMPRESSION": "brotli"}, "solo"),
    "zstd": ({"DEMO_RESULT_COMPRESSION": "zstd"}, "solo"),
    "prefix": ({"DEMO_GLOBAL_KEYPREFIX": "myapp"}, "solo"),
    # A solo worker reads control commands only between tasks, so it can't
    # terminate a running one: revoke(terminate=True) needs prefork.
    "prefork": ({}, "prefork"),
    # Its result backend is the server's TLS port (see the workers fixture).
    "tls": ({}, "solo"),
}


def taskwatch_bin():
    path = os.environ.get("TASKWATCH_BIN") or os.path.join(
        harness.REPO_ROOT, ".build", "debug", "taskwatch")
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def redis_server():
    server = harness.RedisServer(tls=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def workers(redis_server, tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("worker-logs"))
    started = {}
    try:
        for name, (settings, pool) in WORKER_SETTINGS.items():
            if name == "tls":
                settings = {"DEMO_RESULT_BACKEND": redis_server.tls_url(0)}
            started[name] = harness.Worker(name, name, redis_server, settings,
                                           pool=pool, logdir=logdir).start()
        for worker in started.values():
            worker.wait_ready(timeout=60)
        yield started
    finally:
        for worker in started.values():
            worker.stop()


@pytest.fixture(scope="session")
def demo(redis_server, workers):
    """The demo app as a task sender (JSON settings) bound to our redis."""
    module = harness.client_app(redis_server)
    yield module
    harness.release_client(module)


@pytest.fixture(scope="session")
def rclient(redis_server):
    client = redis.Redis(host="127.0.0.1", port=redis_server.port,
                         socket_timeout=5)
    yield client
    client.close()


@pytest.fixture(scope="session")
def tw(redis_server):
    binary = taskwatch_bin()
    if not os.access(binary, os.X_OK):
        pytest.fail("taskwatch binary not found at %s (build it with `swift build`, "
                    "or set TASKWATCH_BIN)" % binary)
    return Taskwatch(binary, redis_server.url(0))


@pytest.fixture(scope="session")
def tw_tls(tw, redis_server):
    """taskwatch given the very URL the "tls" worker's Celery uses."""
    return Taskwatch(tw.binary, redis_server.tls_url(0))


def new_id():
    return str(uuid.uuid4())


def wait_stored(rclient, key, predicate=lambda data: data is not None, timeout=15):
    """Poll a raw stored value until `predicate(bytes)` holds."""
    deadline = time.monotonic() + timeout
    data = None
    while time.monotonic() < deadline:
        data = rclient.get(key)
        if data is not None and predicate(data):
            return data
        time.sleep(0.02)
    raise AssertionError("timed out waiting for %s (last value %r)" % (key, data))


def wait_json_status(rclient, task_id, statuses, prefix="celery-task-meta-",
                     timeout=15):
    def ok(data):
        try:
            return json.loads(data).get("status") in statuses
        except ValueError:
            return False
    return json.loads(wait_stored(rclient, prefix + task_id, ok, timeout))


def _reject_constant(token):
    raise ValueError("non-standard JSON token %s" % token)


def parse_strict(line):
    """json.loads that rejects NaN/Infinity (Python's default accepts them)."""
    return json.loads(line, parse_constant=_reject_constant)


class Run:
    """A running (or finished) taskwatch process and its output."""

    def __init__(self, argv, subprocess_timeout, stdin_data=None, env=None):
        self.argv = argv
        self.started = time.monotonic()
        self.deadline = self.started + subprocess_timeout
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=None if env is None else {**os.environ, **env})
        if stdin_data is not None:
            self.proc.stdin.write(stdin_data.encode())
            self.proc.stdin.close()
        self.raw_lines = []
        self._lines = queue.Queue()
        self.stderr = b""
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()
        self.returncode = None
        self.elapsed = None

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            self._lines.put(line)

    def _read_stderr(self):
        self.stderr = self.proc.stderr.read()

    def wait_line(self, predicate=lambda obj: True, timeout=10):
        """Block until a stdout line (parsed) satisfies `predicate`."""
        deadline = min(time.monotonic() + timeout, self.deadline)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise AssertionError("no matching taskwatch line within %ss; "
                                     "stdout so far: %r; stderr: %r" % (
                                         timeout, self.raw_lines, self.stderr))
            try:
                line = self._lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                if self.proc.poll() is not None and self._lines.empty():
                    self._out.join(timeout=1)
                    if self._lines.empty():
                        raise AssertionError(
                            "taskwatch exited %s before a matching line; stdout: %r;"
                            " stderr: %r" % (self.proc.returncode, self.raw_lines,
                                             self.stderr))
                continue
            obj = parse_strict(line)
            if predicate(obj):
                return obj

    def finish(self):
        """Wait for exit (within the subprocess deadline); return self."""
        try:
            self.returncode = self.proc.wait(timeout=max(0.1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("taskwatch still running after its subprocess "
                                 "timeout; stdout: %r" % self.raw_lines)
        self.elapsed = time.monotonic() - self.started
        self._out.join(timeout=5)
        self._err.join(timeout=5)
        return self

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    @property
    def stderr_text(self):
        return self.stderr.decode("utf-8", "replace")

    @property
    def objects(self):
        return [parse_strict(line) for line in self.raw_lines]

    @property
    def states(self):
        return [o for o in self.objects if o.get("type") == "state"]

    def states_for(self, task_id):
        return [o for o in self.states if o["task_id"] == task_id]

    def describe(self):
        return "argv=%s rc=%s\nstdout:\n%s\nstderr:\n%s" % (
            self.argv, self.returncode,
            b"".join(self.raw_lines).decode("utf-8", "replace"), self.stderr_text)


class Taskwatch:
    def __init__(self, binary, url):
        self.binary = binary
        self.url = url

    def start(self, *args, timeout="30s", subprocess_timeout=45, stdin_data=None,
              env=None):
        """Run taskwatch; `env` adds variables to this process's environment."""
        argv = [self.binary, "--url", self.url]
        if timeout is not None:
            argv += ["--timeout", timeout]
        argv += list(args)
        return Run(argv, subprocess_timeout, stdin_data=stdin_data, env=env)

    def run(self, *args, **kwargs):
        return self.start(*args, **kwargs).finish()

    def watch_then(self, task_ids, submit, *extra):
        """Start watching `task_ids`, wait until every snapshot line is out
        (taskwatch subscribes before it reads the keys), call `submit()`,
        then wait for exit."""
        run = self.start(*extra, *task_ids)
        pending = set(task_ids)
        while pending:
            obj = run.wait_line(lambda o: o.get("type") == "state"
                                and o.get("source") == "snapshot"
                                and o.get("task_id") in pending)
            pending.discard(obj["task_id"])
        submit()
        return run.finish()
