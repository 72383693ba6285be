"""A small Celery app for taskwatch's demo, interop tests and fixture capture.

Everything is configured from the environment so that one module can play
many workers (JSON, msgpack, compressed, extended, key-prefixed...):

    DEMO_BROKER_URL          broker URL           (default redis://127.0.0.1:6399/1)
    DEMO_RESULT_BACKEND      result backend URL   (default redis://127.0.0.1:6399/0)
    DEMO_RESULT_SERIALIZER   json | msgpack | pickle | yaml   (default json)
    DEMO_RESULT_COMPRESSION  empty, or a kombu compression name:
                             zlib | gzip | bzip2 | lzma | brotli | zstd
                             (default: none)
    DEMO_RESULT_EXTENDED     1 to store name/args/kwargs/worker/queue too
    DEMO_GLOBAL_KEYPREFIX    e.g. myapp: prefix for every result key/channel
    DEMO_RESULT_EXPIRES      seconds results are kept (default 3600)

Callers (scripts/demo, Tests/Interop, the fixture capture) always set the two
URLs; the defaults only keep an interactive `celery -A demoapp ...` off the
standard port 6379.
"""

import datetime
import decimal
import os
import time
import uuid

from celery import Celery


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


BROKER_URL = os.environ.get("DEMO_BROKER_URL", "redis://127.0.0.1:6399/1")
RESULT_BACKEND = os.environ.get("DEMO_RESULT_BACKEND", "redis://127.0.0.1:6399/0")
RESULT_SERIALIZER = os.environ.get("DEMO_RESULT_SERIALIZER", "json") or "json"
RESULT_COMPRESSION = os.environ.get("DEMO_RESULT_COMPRESSION", "") or None
RESULT_EXTENDED = _env_flag("DEMO_RESULT_EXTENDED")
GLOBAL_KEYPREFIX = os.environ.get("DEMO_GLOBAL_KEYPREFIX", "") or None

app = Celery("demoapp", broker=BROKER_URL, backend=RESULT_BACKEND)

# Task messages stay JSON; only the *result* encoding varies, since that is
# what taskwatch reads. A worker must accept the result serializer too, or it
# cannot read results back (e.g. for GroupResult.restore).
_accept = sorted({"json", RESULT_SERIALIZER})

app.conf.update(
    task_serializer="json",
    accept_content=_accept,
    result_accept_content=_accept,
    result_serializer=RESULT_SERIALIZER,
    result_compression=RESULT_COMPRESSION,
    result_extended=RESULT_EXTENDED,
    result_expires=int(os.environ.get("DEMO_RESULT_EXPIRES", "3600")),
    # STARTED is only stored when tracking is on; taskwatch shows it.
    task_track_started=True,
    # The interop tests run short-lived workers; no need to wait for
    # connection retries at startup or to linger on shutdown.
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)

if GLOBAL_KEYPREFIX:
    # Result keys and their pub/sub channels get the prefix; the broker keeps
    # its own names so all workers can share one broker.
    app.conf.result_backend_transport_options = {"global_keyprefix": GLOBAL_KEYPREFIX}


@app.task
def add(x, y):
    return x + y


@app.task
def fail():
    raise ValueError("boom")


@app.task(bind=True)
def progress(self, n, delay=0.1):
    """Report PROGRESS n times (current 1..n), then return n."""
    for i in range(1, n + 1):
        self.update_state(state="PROGRESS", meta={"current": i, "total": n})
        time.sleep(delay)
    return n


@app.task(bind=True)
def retry_once(self, countdown=0.2):
    """Retry itself exactly once, then succeed with the number of retries."""
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError("first attempt"), countdown=countdown,
                         max_retries=1)
    return self.request.retries


@app.task
def sleepy(seconds):
    time.sleep(seconds)
    return seconds


@app.task
def nan_result():
    return float("nan")


@app.task
def infinity_result():
    return [float("inf"), float("-inf"), float("nan"), 1.5]


@app.task
def typed_result(kind):
    """Return a value that kombu's JSON encoder wraps in a __type__ envelope."""
    values = {
        "datetime": datetime.datetime(2026, 11, 25, 19, 12, 8, 938000,
                                      tzinfo=datetime.timezone.utc),
        "naive_datetime": datetime.datetime(2026, 11, 25, 19, 12, 8),
        "date": datetime.date(2026, 11, 25),
        "time": datetime.time(19, 12, 8),
        "uuid": uuid.UUID("6f1c3e2a-8d4b-4c5e-9f00-123456789abc"),
        "decimal": decimal.Decimal("3.14159265358979323846"),
        "bytes": b"hello bytes",
        "binary": b"\xff\x00\xfe",
    }
    if kind == "all":
        return values
    return values[kind]


@app.task
def custom_state(state="CUSTOM"):
    """Store a custom state with meta, then succeed."""
    custom_state.update_state(state=state, meta={"note": "custom"})
    time.sleep(0.2)
    return state


@app.task
def nested(depth):
    """A result nested `depth` lists deep: [[[...1...]]]."""
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@app.task
def truncated_text(text, keep):
    """`text` cut after `keep` UTF-16 code units, as a UTF-16 client cuts it:
    a cut inside an emoji leaves a lone surrogate in the result."""
    units = text.encode("utf-16-le", "surrogatepass")[:2 * keep]
    return units.decode("utf-16-le", "surrogatepass")


# --- Workflows: tasks that start other tasks (taskwatch --children) ---


def _route_to_parent_queue(name, args, kwargs, options, task=None, **kw):
    """A task sent from inside a task (a subtask, the next step of a chain, a
    chord's body, a replacement) goes to the queue its sender came from, so
    each worker runs its own workflows with its own result settings. A queue
    given explicitly still wins; tasks sent by a client keep their routing."""
    from celery import current_task
    sender = current_task._get_current_object()
    if sender is None or not sender.request.delivery_info:
        return None
    queue = sender.request.delivery_info.get("routing_key")
    return {"queue": queue} if queue else None


app.conf.task_routes = (_route_to_parent_queue,)


@app.task
def total(values):
    return sum(values)


@app.task
def spawn(n, seconds=0.2):
    """Start n `sleepy(seconds)` subtasks and return their ids: they finish
    after their parent does."""
    return [sleepy.apply_async((seconds,)).id for _ in range(n)]


@app.task
def spawn_tree(depth, fanout):
    """Start `fanout` copies of itself one level down, `depth` levels deep."""
    if depth <= 0:
        return 0
    return [spawn_tree.apply_async((depth - 1, fanout)).id
            for _ in range(fanout)]


@app.task
def spawn_chord(n):
    """Build and start a chord inside a task: n `add` tasks, then `total`."""
    from celery import chord
    header = [add.s(i, i) for i in range(n)]
    return chord(header)(total.s()).id


@app.task(bind=True)
def replace_with_group(self, n):
    """Replace itself with a group of n `add` tasks (Celery's self.replace)."""
    from celery import group
    raise self.replace(group(add.s(i, i) for i in range(n)))


@app.task
def spawn_failing_chain():
    """Start add(1, 1) | add(2) | fail() inside a task: the last step fails."""
    from celery import chain
    return chain(add.s(1, 1), add.s(2), fail.si()).apply_async().id


@app.task(bind=True)
def spawn_then_wait(self, child_queue, timeout=20.0):
    """Start `add` on another worker's queue and return only once that child's
    result is stored: the child is ready before the parent lists it."""
    child = add.apply_async((3, 4), queue=child_queue)
    deadline = time.monotonic() + timeout
    while self.backend.get_task_meta(child.id).get("status") != "SUCCESS":
        if time.monotonic() > deadline:
            raise RuntimeError("child %s not done within %ss" % (child.id, timeout))
        time.sleep(0.02)
    return child.id
