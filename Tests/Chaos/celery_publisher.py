"""Task lives and the publisher that writes them as a Celery worker does.

Each task's life is planned from the seed: optional RECEIVED, STARTED,
PROGRESS updates, up to two RETRYs (each followed by a new STARTED), then
SUCCESS, FAILURE or REVOKED. Payloads have the fields and shapes of the
captured fixtures (Tests/Fixtures/celery), and every payload of a task is
distinct, so a printed `meta` names the step it came from.

The publisher sends each step as Celery's redis backend does: MULTI, SETEX
celery-task-meta-<id>, PUBLISH on the same name, EXEC, on its own connection
straight to Redis. A step counts as published once its EXEC is answered;
when the connection breaks first, the stored key tells whether the
transaction ran (its payload is unique), and it is sent again if not.
"""

import heapq
import json
import socket
import threading
import time
import uuid

PREFIX = "celery-task-meta-"
TTL = 86400
READY = {"SUCCESS", "FAILURE", "REVOKED"}

RETRY_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/.venv/lib/python3.11/site-packages/celery/app/trace.py", line 564, in trace_task\n'
    "    R = retval = fun(*args, **kwargs)\n"
    '  File "/app/tasks.py", line 93, in flaky\n'
    '    raise self.retry(exc=RuntimeError("attempt %d"), countdown=1)\n'
    "celery.exceptions.Retry: Retry in 1s: RuntimeError('attempt %d')\n")
FAILURE_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/.venv/lib/python3.11/site-packages/celery/app/trace.py", line 564, in trace_task\n'
    "    R = retval = fun(*args, **kwargs)\n"
    '  File "/app/tasks.py", line 41, in fail\n'
    '    raise ValueError("boom %s")\n'
    "ValueError: boom %s\n")


def _date_done(step):
    """A Celery date_done, made unique by the step number in the microseconds."""
    return "2026-12-02T15:%02d:%02d.%06d+00:00" % (step // 60 % 60, step % 60, step % 1000000)


def plan_life(rng, task_id, start, spacing):
    """The steps of one task: [(time offset, state, payload)], times increasing."""
    states = []
    if rng.random() < 0.3:
        states.append("RECEIVED")
    retries = 0
    while True:
        states.append("STARTED")
        states += ["PROGRESS"] * (rng.randrange(1, 4) if rng.random() < 0.3 else 0)
        if retries < 2 and rng.random() < 0.2:
            states.append("RETRY")
            retries += 1
            continue
        break
    roll = rng.random()
    states.append("SUCCESS" if roll < 0.85 else "FAILURE" if roll < 0.97 else "REVOKED")

    steps, at, attempt, progress = [], start, 0, 0
    for number, state in enumerate(states):
        result, traceback, date_done = None, None, None
        if state == "STARTED":
            attempt += 1
            progress = 0
            result = {"pid": 4000 + attempt, "hostname": "chaos@taskwatch"}
        elif state == "PROGRESS":
            progress += 1
            result = {"current": progress, "total": 4, "attempt": attempt}
        elif state == "RETRY":
            result = {"exc_type": "RuntimeError", "exc_message": ["attempt %d" % attempt],
                      "exc_module": "builtins"}
            traceback = RETRY_TRACEBACK % (attempt, attempt)
        elif state == "SUCCESS":
            result = rng.randrange(1 << 40)
            date_done = _date_done(number)
        elif state == "FAILURE":
            result = {"exc_type": "ValueError", "exc_message": ["boom %s" % task_id[:8]],
                      "exc_module": "builtins"}
            traceback = FAILURE_TRACEBACK % (task_id[:8], task_id[:8])
            date_done = _date_done(number)
        elif state == "REVOKED":
            result = {"exc_type": "TaskRevokedError", "exc_message": ["revoked"],
                      "exc_module": "celery.exceptions"}
            date_done = _date_done(number)
        payload = json.dumps({"status": state, "result": result, "traceback": traceback,
                              "children": [], "date_done": date_done, "task_id": task_id})
        steps.append((at, state, payload))
        at += min(3.0, rng.expovariate(1.0 / spacing))
    return steps


def plan_tasks(rng, count, seconds, spacing=0.4):
    """`count` task lives, started over the first 70% of `seconds`: {id: steps}."""
    tasks = {}
    for _ in range(count):
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        tasks[task_id] = plan_life(rng, task_id, rng.uniform(0, 0.7 * seconds), spacing)
    return tasks


class RESPConnection:
    """The few RESP commands the publisher needs, on a blocking socket."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    @staticmethod
    def pack(*args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    def send(self, data):
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, size):
        while len(self.buffer) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis error: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exactly(size)
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.reply() for _ in range(size)]
        raise RuntimeError("unexpected reply %r" % line)

    def command(self, *args):
        self.send(self.pack(*args))
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def celery_transaction(task_id, payload):
    key = PREFIX + task_id
    return (RESPConnection.pack("MULTI") + RESPConnection.pack("SETEX", key, TTL, payload)
            + RESPConnection.pack("PUBLISH", key, payload) + RESPConnection.pack("EXEC"))


class Publisher:
    """Publishes every planned step at its time (relative to `begin()`), in order per task.

    `published[id]` lists (monotonic time, payload) as they were committed.
    `pause` (a lock) is held by faults that must not lose writes (a restart).
    A burst request publishes the next N due-or-not steps in one pipeline."""

    def __init__(self, port, tasks):
        self.port = port
        self.tasks = tasks
        self.published = {task_id: [] for task_id in tasks}
        self.pause = threading.Lock()
        self.burst_requests = []  # (count, before, after): callables around the burst
        self.errors = 0
        self.finished_at = None
        self._heap = []
        self._connection = None
        self._lock = threading.Lock()

    def publish_now(self, task_id, steps):
        """Publish steps [(state, payload)] of one task before the run (pre-start history)."""
        for _state, payload in steps:
            self._commit([(task_id, payload)])

    def run(self, start, stop_event):
        """Publish every step of `self.tasks` whose offset is >= 0, from `start` on."""
        for task_id, steps in self.tasks.items():
            pending = [(offset, payload) for offset, _state, payload in steps]
            if pending:
                heapq.heappush(self._heap, (start + pending[0][0], task_id, 0, pending))
        while self._heap and not stop_event.is_set():
            with self._lock:
                bursts, self.burst_requests = self.burst_requests, []
            for count, before, after in bursts:
                self._burst(count, before, after)
            if not self._heap:
                break
            due = self._heap[0][0]
            now = time.monotonic()
            if due > now:
                time.sleep(min(due - now, 0.01))
                continue
            _, task_id, index, pending = heapq.heappop(self._heap)
            self._commit([(task_id, pending[index][1])])
            self._next(task_id, index, pending, now)
        self.finished_at = time.monotonic()

    def request_burst(self, count, before, after):
        with self._lock:
            self.burst_requests.append((count, before, after))

    def _next(self, task_id, index, pending, now):
        if index + 1 < len(pending):
            gap = pending[index + 1][0] - pending[index][0]
            heapq.heappush(self._heap, (now + gap, task_id, index + 1, pending))

    def _burst(self, count, before, after):
        """The next `count` steps (by due time, each task's in order) in one pipelined write."""
        batch = []
        now = time.monotonic()
        while self._heap and len(batch) < count:
            _, task_id, index, pending = heapq.heappop(self._heap)
            batch.append((task_id, pending[index][1]))
            self._next(task_id, index, pending, now)
        before()
        try:
            self._commit(batch)
        finally:
            after()

    def _connect(self, patience=30.0):
        deadline = time.monotonic() + patience
        while self._connection is None:
            try:
                self._connection = RESPConnection(self.port)
            except OSError:
                self.errors += 1
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server unreachable for %.0fs" % patience)
                time.sleep(0.05)

    def _commit(self, batch):
        """MULTI/SETEX/PUBLISH/EXEC for each (task, payload), pipelined; retried until stored."""
        remaining = list(batch)
        while remaining:
            with self.pause:
                self._connect()
                try:
                    self._connection.send(b"".join(celery_transaction(t, p) for t, p in remaining))
                    for task_id, payload in list(remaining):
                        replies = [self._connection.reply() for _ in range(4)]
                        if not (isinstance(replies[3], list) and len(replies[3]) == 2):
                            raise RuntimeError("EXEC for %s answered %r" % (task_id, replies))
                        self.published[task_id].append((time.monotonic(), payload))
                        remaining.pop(0)
                except (OSError, ConnectionError):
                    self.errors += 1
                    self._connection.close()
                    self._connection = None
                    self._settle(remaining)

    def _settle(self, remaining):
        """After a broken connection: drop from `remaining` what Redis stored anyway."""
        while remaining:
            try:
                self._connect()
                task_id, payload = remaining[0]
                stored = self._connection.command("GET", PREFIX + task_id)
            except (OSError, ConnectionError):
                self.errors += 1
                if self._connection is not None:
                    self._connection.close()
                self._connection = None
                time.sleep(0.05)
                continue
            if stored is not None and stored.decode() == payload:
                self.published[task_id].append((time.monotonic(), payload))
                remaining.pop(0)
            else:
                return
