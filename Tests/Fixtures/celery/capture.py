"""Capture Celery result-backend payloads from a real worker as fixtures.

Run from the repository root (it makes the venv if needed, starts its own
redis-server on a free loopback port and its own workers, and rewrites every
file in this directory except README.md and capture.py):

    scripts/setup-python && .venv/bin/python Tests/Fixtures/celery/capture.py

Each case runs one real task (or saves one group) on a worker configured for
that case, then saves raw bytes exactly as Redis holds them:

- ``<case>.stored.<ext>``: GET of the key (at the state named in the manifest:
  the final one, or an intermediate one such as STARTED caught while running);
- ``<case>.published-<n>-<STATE>.<ext>``: every message PUBLISHed on the key's
  channel, in order, as seen by a pattern subscriber started before the task.

manifest.json lists every file with its case, serializer, compression,
status, task or group id, key, channel and notes, plus the versions used.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "Tests", "Interop"))

import harness  # noqa: E402

import celery  # noqa: E402
import kombu  # noqa: E402
import msgpack  # noqa: E402
import redis  # noqa: E402
import yaml  # noqa: E402
from celery.backends.base import COMPRESSED_PAYLOAD_MAGIC, decompress_payload  # noqa: E402
from kombu.serialization import loads as kombu_loads  # noqa: E402

CAPTURE_COMMAND = ("scripts/setup-python && "
                   ".venv/bin/python Tests/Fixtures/celery/capture.py")

READY = {"SUCCESS", "FAILURE", "REVOKED"}

# name -> (queue, DEMO_* settings, pool). One worker per result configuration;
# all share one broker (db 1) and one result database (db 0).
WORKERS = {
    "json": ("json", {}, "solo"),
    "extended": ("extended", {"DEMO_RESULT_EXTENDED": "1"}, "solo"),
    "msgpack": ("msgpack", {"DEMO_RESULT_SERIALIZER": "msgpack"}, "solo"),
    "pickle": ("pickle", {"DEMO_RESULT_SERIALIZER": "pickle"}, "solo"),
    "yaml": ("yaml", {"DEMO_RESULT_SERIALIZER": "yaml"}, "solo"),
    "zlib": ("zlib", {"DEMO_RESULT_COMPRESSION": "zlib"}, "solo"),
    "gzip": ("gzip", {"DEMO_RESULT_COMPRESSION": "gzip"}, "solo"),
    "bzip2": ("bzip2", {"DEMO_RESULT_COMPRESSION": "bzip2"}, "solo"),
    "lzma": ("lzma", {"DEMO_RESULT_COMPRESSION": "lzma"}, "solo"),
    # kombu registers these two only when brotli / backports.zstd import.
    "brotli": ("brotli", {"DEMO_RESULT_COMPRESSION": "brotli"}, "solo"),
    "zstd": ("zstd", {"DEMO_RESULT_COMPRESSION": "zstd"}, "solo"),
    "msgpack_zlib": ("msgpack_zlib", {"DEMO_RESULT_SERIALIZER": "msgpack",
                                      "DEMO_RESULT_COMPRESSION": "zlib"}, "solo"),
    "prefix": ("prefix", {"DEMO_GLOBAL_KEYPREFIX": "myapp"}, "solo"),
    "prefix_colon": ("prefix_colon", {"DEMO_GLOBAL_KEYPREFIX": "myapp:"}, "solo"),
    # A solo worker handles control commands only between tasks, so it cannot
    # terminate a running task; revoke(terminate=True) needs prefork.
    "prefork": ("prefork", {}, "prefork"),
}

EXT = {"json": "json", "msgpack": "msgpack", "pickle": "pickle", "yaml": "yaml"}


def settings_of(worker):
    _queue, env, pool = WORKERS[worker]
    return {
        "serializer": env.get("DEMO_RESULT_SERIALIZER", "json"),
        "compression": env.get("DEMO_RESULT_COMPRESSION"),
        "result_extended": env.get("DEMO_RESULT_EXTENDED") == "1",
        "global_keyprefix": env.get("DEMO_GLOBAL_KEYPREFIX"),
        "pool": pool,
    }


def key_prefix(global_keyprefix, kind="task"):
    """Celery 5.7's rule, restated (checked against real keys below)."""
    base = "celery-task-meta-" if kind == "task" else "celery-taskset-meta-"
    if not global_keyprefix:
        return base
    if global_keyprefix[-1] not in ":_-.":
        global_keyprefix += "_"
    return global_keyprefix + base


def decode(data, serializer):
    """Decode a stored payload the way Celery would (trusted: our worker)."""
    raw = decompress_payload(data)
    content_type = {
        "json": "application/json", "msgpack": "application/x-msgpack",
        "pickle": "application/x-python-serialize", "yaml": "application/x-yaml",
    }[serializer]
    encoding = "binary" if serializer in ("msgpack", "pickle") else "utf-8"
    return kombu_loads(raw, content_type, encoding,
                       accept={content_type}, force=True)


def _json_safe(value):
    """NaN/Infinity as the strings taskwatch prints (DESIGN.md section 5);
    None if the value holds bytes (msgpack bin), which JSON cannot carry."""
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, (bytes, bytearray)):
        raise TypeError("bytes")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def expected_meta(data, serializer):
    """What taskwatch's `meta` should be for this payload: the payload as
    stored (kombu envelopes kept as they are), not Celery's decoded objects.
    None for serializers taskwatch refuses and for msgpack bin values."""
    raw = decompress_payload(data)
    if serializer == "json":
        obj = json.loads(raw)  # Python's json accepts NaN/Infinity tokens
    elif serializer == "msgpack":
        obj = msgpack.unpackb(raw, raw=False)
    else:
        return None
    try:
        return _json_safe(obj)
    except TypeError:
        return None


class Subscriber(threading.Thread):
    """Records every message on result channels (any prefix) in order."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = redis.Redis(host="127.0.0.1", port=port,
                                  socket_timeout=5)
        self.pubsub = self.client.pubsub()
        self.messages = []  # (channel str, data bytes)
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def subscribe(self):
        self.pubsub.psubscribe("*celery-task*")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            m = self.pubsub.get_message(timeout=0.2)
            if m and m["type"] == "psubscribe":
                return
        raise RuntimeError("no psubscribe confirmation")

    def run(self):
        while not self.stopping.is_set():
            m = self.pubsub.get_message(timeout=0.1)
            if m and m["type"] == "pmessage":
                with self.lock:
                    self.messages.append((m["channel"].decode(), m["data"]))

    def on(self, channel):
        with self.lock:
            return [d for c, d in self.messages if c == channel]

    def stop(self):
        self.stopping.set()
        self.join(timeout=5)
        self.pubsub.close()


class Capture:
    def __init__(self, out_dir, redis_server, subscriber, app_module):
        self.out = out_dir
        self.redis = redis_server
        self.r = redis.Redis(host="127.0.0.1", port=redis_server.port)
        self.sub = subscriber
        self.demo = app_module
        self.entries = []
        self.observations = {}

    # -- waiting ------------------------------------------------------------

    def wait_stored(self, key, serializer, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.r.get(key)
            if data is not None:
                meta = decode(data, serializer)
                if predicate(meta):
                    return data, meta
            time.sleep(0.01)
        raise RuntimeError("timeout waiting for %s (last: %r)" % (key, self.r.get(key)))

    def wait_tasks_ready(self, task_ids, prefix="celery-task-meta-"):
        """Poll the stored keys (JSON) rather than AsyncResult.get(): Celery's
        own consumer would keep subscriptions that it tries to clean up, and
        reconnect for, after the private redis-server has been stopped."""
        for task_id in task_ids:
            self.wait_stored(prefix + task_id, "json",
                             lambda m: m.get("status") in READY)

    def wait_quiet(self, channel, at_least, settle=0.4, timeout=10.0):
        """Wait until `channel` has >= at_least messages and no new one for
        `settle` seconds, so late duplicates (e.g. REVOKED) are caught."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = len(self.sub.on(channel))
            if n != seen:
                seen, since = n, time.monotonic()
            elif n >= at_least and time.monotonic() - since >= settle:
                return self.sub.on(channel)
            time.sleep(0.02)
        raise RuntimeError("timeout waiting for %d messages on %s (got %d)"
                           % (at_least, channel, seen))

    # -- saving -------------------------------------------------------------

    def ext(self, worker):
        s = settings_of(worker)
        ext = EXT[s["serializer"]]
        if s["compression"]:
            ext += "." + s["compression"]
        return ext

    def save(self, case, worker, source, data, meta, task_id, key,
             notes="", index=None, kind="task", status=None):
        s = settings_of(worker)
        status = status or (meta.get("status") if isinstance(meta, dict) else None)
        if source == "stored":
            name = "%s.stored.%s" % (case, self.ext(worker))
        else:
            name = "%s.published-%d-%s.%s" % (case, index, status or "GROUP",
                                              self.ext(worker))
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(data)
        entry = {
            "case": case,
            "file": name,
            "source": source,
            "kind": kind,
            "serializer": s["serializer"],
            "compression": s["compression"],
            "status": status,
            "task_id" if kind == "task" else "group_id": task_id,
            "key": key,
            "channel": key,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "worker": {"pool": s["pool"], "result_extended": s["result_extended"],
                       "global_keyprefix": s["global_keyprefix"]},
            "notes": notes,
        }
        if index is not None:
            entry["publish_index"] = index
        # Per DESIGN.md section 5: JSON and msgpack, raw or compressed with any
        # of kombu's methods; pickle and yaml are refused (exit 65).
        content = data[len(COMPRESSED_PAYLOAD_MAGIC):].split(b"\x00", 1)[0] \
            if data.startswith(COMPRESSED_PAYLOAD_MAGIC) else None
        entry["taskwatch_decodes"] = (
            s["serializer"] in ("json", "msgpack")
            and content in (None, b"application/x-gzip", b"application/x-bz2",
                            b"application/x-lzma", b"application/x-brotli",
                            b"application/zstd"))
        entry["expected_meta"] = expected_meta(data, s["serializer"])
        if data.startswith(COMPRESSED_PAYLOAD_MAGIC):
            content_type = data[len(COMPRESSED_PAYLOAD_MAGIC):].split(b"\x00", 1)[0]
            body = data[len(COMPRESSED_PAYLOAD_MAGIC) + len(content_type) + 1:]
            entry["compressed"] = {
                "marker_hex": COMPRESSED_PAYLOAD_MAGIC.hex(),
                "content_type": content_type.decode(),
                "body_offset": len(COMPRESSED_PAYLOAD_MAGIC) + len(content_type) + 1,
                "body_first_bytes_hex": body[:4].hex(),
            }
        self.entries.append(entry)

    def save_publishes(self, case, worker, messages, task_id, key, notes="",
                       kind="task"):
        s = settings_of(worker)
        for i, data in enumerate(messages, 1):
            meta = decode(data, s["serializer"])
            status = meta.get("status") if kind == "task" else None
            self.save(case, worker, "published", data, meta, task_id, key,
                      notes=notes, index=i, kind=kind, status=status)

    # -- cases --------------------------------------------------------------

    def run_task(self, case, worker, task, args=(), kwargs=None, final="SUCCESS",
                 stored_at=None, publishes=True, min_publishes=2, notes="",
                 send=None):
        """Run `task` on `worker`; save GET (at `stored_at` or the final state)
        and, if `publishes`, every message on the channel."""
        queue, _env, _pool = WORKERS[worker]
        s = settings_of(worker)
        task_id = str(uuid.uuid4())
        key = key_prefix(s["global_keyprefix"]) + task_id
        if send is None:
            task.apply_async(args=args, kwargs=kwargs or {}, queue=queue,
                             task_id=task_id)
        else:
            send(task_id, queue)
        if stored_at:
            data, meta = self.wait_stored(key, s["serializer"],
                                          lambda m: m.get("status") == stored_at)
            self.save(case, worker, "stored", data, meta, task_id, key, notes=notes)
        data, meta = self.wait_stored(key, s["serializer"],
                                      lambda m: m.get("status") in READY)
        if meta.get("status") != final:
            raise RuntimeError("%s: expected %s, stored %r" % (case, final, meta))
        messages = self.wait_quiet(key, min_publishes)
        if not stored_at:
            data = self.r.get(key)
            self.save(case, worker, "stored", data, decode(data, s["serializer"]),
                      task_id, key, notes=notes)
        if publishes:
            self.save_publishes(case, worker, messages, task_id, key, notes=notes)
        print("%-28s %-8s %d publish(es), stored %d bytes" % (
            case, meta.get("status"), len(messages), len(self.r.get(key))))
        return task_id, key, messages

    def run_all(self):
        d = self.demo
        json_notes = "default JSON result serializer"

        # --- the basic states, JSON ---
        self.run_task("success", "json", d.add, (2, 3), notes=json_notes +
                      "; published-1 is STARTED ({pid, hostname}), published-2 SUCCESS")
        self.run_task("failure", "json", d.fail, final="FAILURE",
                      notes="result = {exc_type, exc_message (a list), exc_module}; "
                            "traceback is a string")
        self.run_task("started", "json", d.sleepy, (1.0,), stored_at="STARTED",
                      publishes=False,
                      notes="GET while running: STARTED, result {pid, hostname}, "
                            "date_done null")
        self.run_task("retry", "json", d.retry_once, kwargs={"countdown": 1.0},
                      stored_at="RETRY", min_publishes=4,
                      notes="STARTED, RETRY (result = the exception dict, "
                            "traceback string), STARTED again, SUCCESS (result 1)")
        self.run_task("progress", "json", d.progress, (3,), kwargs={"delay": 0.3},
                      stored_at="PROGRESS", min_publishes=5,
                      notes="custom state from update_state: the meta dict is "
                            "stored as `result`; stored file caught mid-run")
        self.run_task("nan", "json", d.nan_result,
                      notes="Python json writes the bare token NaN (invalid JSON)")
        self.run_task("infinity", "json", d.infinity_result,
                      notes="result [Infinity, -Infinity, NaN, 1.5] as bare tokens")
        for kind in ("datetime", "naive_datetime", "date", "time", "uuid",
                     "decimal", "bytes", "binary"):
            self.run_task("typed-" + kind, "json", d.typed_result, (kind,),
                          publishes=False,
                          notes="kombu wraps the value as {__type__, __value__}")

        # --- revoked ---
        self.revoke_before_run()
        self.revoke_terminate()

        # --- result_extended ---
        self.run_task("extended-success", "extended", d.add, (2,), {"y": 3},
                      notes="result_extended=True: name, args, kwargs, worker, "
                            "retries, queue added (also on STARTED)")
        self.run_task("extended-failure", "extended", d.fail, final="FAILURE",
                      publishes=False, notes="result_extended=True")

        # --- msgpack ---
        mp = "msgpack result serializer (packb use_bin_type=True)"
        self.run_task("msgpack-success", "msgpack", d.add, (2, 3), notes=mp)
        self.run_task("msgpack-failure", "msgpack", d.fail, final="FAILURE",
                      publishes=False, notes=mp)
        self.run_task("msgpack-progress", "msgpack", d.progress, (2,),
                      stored_at="PROGRESS", publishes=False, notes=mp)
        self.run_task("msgpack-nan", "msgpack", d.infinity_result,
                      publishes=False, notes=mp + "; floats as float64 (0xcb)")
        for kind in ("bytes", "binary"):
            self.run_task("msgpack-typed-" + kind, "msgpack", d.typed_result,
                          (kind,), publishes=False,
                          notes=mp + "; bytes are msgpack bin (0xc4), no __type__ envelope")
        self.run_task("msgpack-typed-datetime", "msgpack", d.typed_result,
                      ("datetime",), final="FAILURE", publishes=False,
                      notes=mp + "; msgpack cannot encode datetime: the worker "
                            "stores FAILURE (EncodeError) instead")

        # --- compression ---
        for name in ("zlib", "gzip", "bzip2", "lzma", "brotli", "zstd"):
            self.run_task("compressed-" + name, name, d.add, (2, 3),
                          notes="result_compression=%r: MAGIC + content-type + NUL + "
                                "body (STARTED is compressed too)" % name)
            # 40,000 bytes of result in a body of a few hundred: the
            # decoders' output must grow past their first guess.
            self.run_task("compressed-large-" + name, name, d.add,
                          ("ab" * 10_000, "cd" * 10_000), publishes=False,
                          notes="result_compression=%r, a 40,000-character "
                                "result" % name)
        self.run_task("compressed-failure-gzip", "gzip", d.fail, final="FAILURE",
                      publishes=False, notes="result_compression='gzip'")
        self.run_task("compressed-msgpack-zlib", "msgpack_zlib", d.add, (2, 3),
                      publishes=False, notes="msgpack, then zlib")

        # --- undecodable for taskwatch ---
        self.run_task("pickle-success", "pickle", d.add, (2, 3), publishes=False,
                      notes="pickle protocol 4; taskwatch must refuse (exit 65)")
        self.run_task("pickle-failure", "pickle", d.fail, final="FAILURE",
                      publishes=False, notes="pickle: result is a pickled ValueError")
        self.run_task("yaml-success", "yaml", d.add, (2, 3), publishes=False,
                      notes="yaml.safe_dump; taskwatch must refuse (exit 65)")
        self.run_task("yaml-failure", "yaml", d.fail, final="FAILURE",
                      publishes=False, notes="yaml.safe_dump")

        # --- global_keyprefix ---
        self.run_task("prefix-myapp", "prefix", d.add, (2, 3),
                      notes="global_keyprefix 'myapp' -> key and channel "
                            "'myapp_celery-task-meta-<id>' (Celery 5.5+ adds '_')")
        self.run_task("prefix-myapp-colon", "prefix_colon", d.add, (2, 3),
                      publishes=False,
                      notes="global_keyprefix 'myapp:' ends in one of ':_-.' "
                            "-> no '_' added: 'myapp:celery-task-meta-<id>'")

        # --- groups ---
        self.groups()

    def revoke_before_run(self):
        d = self.demo
        task_id = str(uuid.uuid4())
        key = "celery-task-meta-" + task_id
        # Only the JSON worker: every worker that receives a broadcast revoke
        # may write REVOKED itself, in its own serializer and key prefix.
        d.app.control.revoke(task_id, destination=["json@taskwatch"])
        self.wait_quiet(key, 1)
        d.add.apply_async((1, 1), queue="json", task_id=task_id)
        messages = self.wait_quiet(key, 2, settle=0.8)
        data = self.r.get(key)
        self.save("revoked-before-run", "json", "stored", data,
                  decode(data, "json"), task_id, key,
                  notes="stored = the second REVOKED write")
        notes = ("revoke() of a PENDING task: the worker's control handler writes "
                 "REVOKED at once (children null, no request), then the worker "
                 "writes REVOKED again when the message arrives (children [], "
                 "new date_done): %d publishes, identical=%s" % (
                     len(messages), len(set(messages)) == 1))
        self.save_publishes("revoked-before-run", "json", messages, task_id, key,
                            notes=notes)
        self.observations["revoked_before_run_publishes"] = len(messages)
        self.observations["revoked_before_run_identical"] = len(set(messages)) == 1
        print("%-28s REVOKED  %d publish(es)" % ("revoked-before-run", len(messages)))

    def revoke_terminate(self):
        d = self.demo
        task_id = str(uuid.uuid4())
        key = "celery-task-meta-" + task_id
        d.sleepy.apply_async((10,), queue="prefork", task_id=task_id)
        self.wait_stored(key, "json", lambda m: m.get("status") == "STARTED")
        time.sleep(0.3)
        d.app.control.revoke(task_id, terminate=True,
                             destination=["prefork@taskwatch"])
        self.wait_stored(key, "json", lambda m: m.get("status") == "REVOKED")
        messages = self.wait_quiet(key, 2, settle=1.5)
        data = self.r.get(key)
        self.save("revoked-terminate", "prefork", "stored", data,
                  decode(data, "json"), task_id, key,
                  notes="revoke(terminate=True) of a running task (prefork pool)")
        revoked = [m for m in messages if b'"REVOKED"' in m]
        notes = ("STARTED then REVOKED (exc_message ['terminated']); "
                 "%d REVOKED publish(es), identical=%s" % (
                     len(revoked), len(set(revoked)) == 1))
        self.save_publishes("revoked-terminate", "prefork", messages, task_id,
                            key, notes=notes)
        self.observations["revoked_terminate_publishes"] = len(revoked)
        print("%-28s REVOKED  %d publish(es)" % ("revoked-terminate", len(messages)))

    def groups(self):
        from celery import group
        from celery.result import GroupResult
        d = self.demo
        # A saved group: GroupResult.save() is done by the *caller*, with the
        # caller's result serializer (JSON here), and it PUBLISHes too.
        g = group(d.add.s(1, 2).set(queue="json"),
                  d.add.s(3, 4).set(queue="json")).apply_async()
        g.save()
        key = "celery-taskset-meta-" + g.id
        self.wait_tasks_ready([r.id for r in g.results])
        messages = self.wait_quiet(key, 1)
        self.save("group", "json", "stored", self.r.get(key), None, g.id, key,
                  kind="group", status=None,
                  notes="{'result': [[gid, null], [[[child_id, null], null], ...]]}; "
                        "children carry group_id in their own meta")
        self.save_publishes("group", "json", messages, g.id, key, kind="group",
                            notes="GroupResult.save() also PUBLISHes on the key's channel")
        self.observations["group_children"] = [r.id for r in g.results]

        # group(a, group(b, c)) is flattened by Celery into one group of three;
        # a GroupResult whose results contain another GroupResult is nested.
        flat = group(d.add.s(1, 1).set(queue="json"),
                     group(d.add.s(2, 2).set(queue="json"),
                           d.add.s(3, 3).set(queue="json"))).apply_async()
        flat.save()
        self.wait_tasks_ready([r.id for r in flat.results])
        key = "celery-taskset-meta-" + flat.id
        self.save("group-flattened", "json", "stored", self.r.get(key), None,
                  flat.id, key, kind="group", status=None,
                  notes="group(a, group(b, c)).apply_async() is flattened: "
                        "one level, 3 children")

        inner = group(d.add.s(5, 5).set(queue="json"),
                      d.add.s(6, 6).set(queue="json")).apply_async()
        inner.save()
        first = d.add.apply_async((1, 1), queue="json")
        outer = GroupResult(str(uuid.uuid4()), [first, inner])
        outer.save()
        self.wait_tasks_ready([first.id] + [r.id for r in inner.results])
        key = "celery-taskset-meta-" + outer.id
        self.save("group-nested", "json", "stored", self.r.get(key), None,
                  outer.id, key, kind="group", status=None,
                  notes="GroupResult(gid, [AsyncResult, GroupResult(inner, "
                        "[...])]).save(): a child whose second element is a "
                        "list (not null) is a nested group, children inline; the "
                        "inner group is also saved under its own key (%s)" % inner.id)
        self.save("group-nested-inner", "json", "stored",
                  self.r.get("celery-taskset-meta-" + inner.id), None, inner.id,
                  "celery-taskset-meta-" + inner.id, kind="group", status=None,
                  notes="the inner group of group-nested, saved on its own")

        # A saved group under global_keyprefix (caller with the prefix too).
        g2 = group(d.add.s(7, 7).set(queue="prefix")).apply_async()
        prefixed = GroupResult(g2.id, g2.results,
                               app=self.prefixed_app())
        prefixed.save()
        key = key_prefix("myapp", "group") + g2.id
        self.wait_quiet(key, 1)
        self.wait_tasks_ready([r.id for r in g2.results],
                              prefix=key_prefix("myapp"))
        self.save("group-prefix-myapp", "prefix", "stored", self.r.get(key), None,
                  g2.id, key, kind="group", status=None,
                  notes="group saved by a caller with global_keyprefix 'myapp'")
        print("%-28s saved" % "groups")

    # -- workflows (taskwatch --children) -----------------------------------

    def workflow_tree(self, root, serializer):
        """Wait until `root` and every task its stored children list (as
        Celery's result_from_tuple reads them) are ready; return
        {task id: (stored bytes, meta, child ids)}."""
        found, todo = {}, [root]
        while todo:
            task_id = todo.pop()
            if task_id in found:
                continue
            key = "celery-task-meta-" + task_id
            data, meta = self.wait_stored(key, serializer,
                                          lambda m: m.get("status") in READY)
            children = [listed_ids(result_from_tuple(c, self.demo.app))
                        for c in meta.get("children") or []]
            ids = [i for group in children for i in group]
            found[task_id] = (data, meta, ids)
            todo.extend(ids)
        return found

    def save_workflow(self, case, worker, task_id, data, meta, children, notes):
        key = "celery-task-meta-" + task_id
        self.save(case, worker, "stored", data, meta, task_id, key, notes=notes)
        self.entries[-1]["children_ids"] = children

    def workflows(self):
        """Tasks that start tasks: their stored `children` in every form the
        demo app's workflow tasks make, with the ids Celery reads from them."""
        d = self.demo
        cases = [
            ("spawn", "json", d.spawn, (3, 0.05),
             "spawn(3): three sleepy() subtasks sent with apply_async inside the task: "
             "children is [[[id, null], null], ...]"),
            ("tree", "json", d.spawn_tree, (2, 2),
             "spawn_tree(2, 2): each task starts two copies of itself one level down, "
             "three levels in all; -child is a middle task, -grandchild a last-level one"),
            ("chord", "json", d.spawn_chord, (3,),
             "spawn_chord(3): chord(3 x add)(total) built inside the task: children holds "
             "the header group [[gid, null], [members]]; the body (the task's result) is "
             "not listed anywhere"),
            ("replace", "json", d.replace_with_group, (3,),
             "replace_with_group(3): self.replace(group) makes the group a chord whose "
             "body (celery.accumulate) takes the replaced task's id: the stored meta is the "
             "accumulated result, children []"),
            ("chain", "json", d.spawn_failing_chain, (),
             "spawn_failing_chain(): add | add | fail started inside the task: children "
             "lists the first step; each step lists the next (-child); the last fails"),
            ("msgpack-spawn", "msgpack", d.spawn, (2, 0.05),
             "spawn(2) on a msgpack worker: the same tuples as msgpack arrays"),
        ]
        for case, worker, task, args, notes in cases:
            queue, _env, _pool = WORKERS[worker]
            root = str(uuid.uuid4())
            task.apply_async(args=args, queue=queue, task_id=root)
            tree = self.workflow_tree(root, settings_of(worker)["serializer"])
            data, meta, children = tree[root]
            self.save_workflow("workflow-" + case, worker, root, data, meta, children, notes)
            # One task below the root that lists children of its own, and one leaf.
            middle = next((i for i in children if tree[i][2]), None)
            if middle is not None:
                self.save_workflow("workflow-%s-child" % case, worker, middle,
                                   *tree[middle], notes="a task below workflow-" + case)
                below = tree[middle][2][0]
                self.save_workflow("workflow-%s-grandchild" % case, worker, below, *tree[below],
                                   notes="a task two levels below workflow-" + case)
            print("%-28s %d tasks in the tree" % ("workflow-" + case, len(tree)))
        self.tuple_forms()

    def tuple_forms(self):
        """The tuple forms no worker above stored, as Celery's own as_tuple()
        writes them: a result with parents (a frozen chain's last step) and a
        group holding a nested group. A worker stores exactly these tuples for
        whatever a task adds to its trail; here they are wrapped in the meta of
        a real task (spawn(0), children [] replaced), so the file is a stored
        meta in every other respect."""
        from celery import chain, group
        from celery.result import GroupResult
        d = self.demo
        steps = chain(d.add.s(1, 1), d.add.s(2), d.add.s(3)).freeze()
        inner = group(d.add.s(2, 2), d.add.s(3, 3)).freeze()
        nested = GroupResult(str(uuid.uuid4()), [d.add.s(1, 1).freeze(), inner])
        tuples = [steps.as_tuple(), nested.as_tuple()]
        root = str(uuid.uuid4())
        d.spawn.apply_async(args=(0,), queue="json", task_id=root)
        _data, meta = self.wait_stored("celery-task-meta-" + root, "json",
                                       lambda m: m.get("status") in READY)
        meta["children"] = tuples
        data = json.dumps(meta).encode()
        ids = [i for t in tuples for i in listed_ids(result_from_tuple(t, d.app))]
        self.r.set("celery-task-meta-" + root, data)
        self.save_workflow("workflow-tuple-forms", "json", root, data, meta, ids,
                           notes="a real spawn(0) meta whose children are Celery's as_tuple() of "
                                 "a frozen chain (parents) and of a group with a nested group")
    def prefixed_app(self):
        from celery import Celery
        app = Celery("prefixed", broker=self.redis.url(1),
                     backend=self.redis.url(0))
        app.conf.result_backend_transport_options = {"global_keyprefix": "myapp"}
        return app


from celery.result import result_from_tuple  # noqa: E402


def listed_ids(result):
    """The task ids of one result Celery read from a children tuple: a task,
    a group's members (nested groups expanded), and the results before it
    (`parent`)."""
    from celery.result import GroupResult
    ids = []
    if isinstance(result, GroupResult):
        for member in result.results:
            ids += listed_ids(member)
    else:
        ids.append(result.id)
    if result.parent is not None:
        ids += listed_ids(result.parent)
    return ids


def versions(redis_server):
    out = subprocess.run(["redis-server", "--version"], capture_output=True,
                         text=True, timeout=10).stdout.strip()
    return {
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "redis-py": redis.__version__,
        "msgpack": ".".join(map(str, msgpack.version)),
        "PyYAML": yaml.__version__,
        "python": platform.python_version(),
        "redis-server": out,
    }


def write_manifest(out, server, cap, about):
    manifest = {
        "about": about,
        "capture_command": CAPTURE_COMMAND,
        "captured_at": datetime.datetime.now(datetime.timezone.utc)
                        .isoformat(timespec="seconds"),
        "versions": versions(server),
        "compressed_payload_marker_hex": COMPRESSED_PAYLOAD_MAGIC.hex(),
        "observations": cap.observations,
        "files": cap.entries,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=False)
        f.write("\n")
    print("wrote %d files + manifest.json to %s" % (len(cap.entries), out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=HERE)
    parser.add_argument("--workflows-only", action="store_true",
                        help="capture only workflows/ (tasks that start tasks)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    workflows_out = os.path.join(args.out, "workflows")
    os.makedirs(workflows_out, exist_ok=True)

    server = harness.RedisServer().start()
    workers, sub, demo = [], None, None
    try:
        demo = harness.client_app(server)
        sub = Subscriber(server.port)
        sub.subscribe()
        sub.start()
        for name, (queue, env, pool) in WORKERS.items():
            if args.workflows_only and name not in ("json", "msgpack"):
                continue
            workers.append(harness.Worker(name, queue, server, env, pool=pool).start())
        for w in workers:
            w.wait_ready(timeout=60)

        for directory, kept in ((workflows_out, ()), (args.out, ("README.md", "capture.py"))):
            if directory == args.out and args.workflows_only:
                continue
            for f in os.listdir(directory):
                if f not in kept and os.path.isfile(os.path.join(directory, f)):
                    os.unlink(os.path.join(directory, f))

        flows = Capture(workflows_out, server, sub, demo)
        flows.workflows()
        write_manifest(workflows_out, server, flows,
                       "Stored metas of tasks that start tasks (taskwatch --children), "
                       "captured from real workers; children_ids is what Celery's "
                       "result_from_tuple reads from each; see ../README.md.")
        if args.workflows_only:
            return

        cap = Capture(args.out, server, sub, demo)
        cap.run_all()

        # Every key Celery wrote, to confirm the naming rules used above.
        keys = sorted(k.decode() for k in cap.r.keys("*celery-task*"))
        wrong = [e["key"] for e in cap.entries if e["key"] not in keys]
        if wrong:
            raise RuntimeError("keys not found in Redis: %r" % wrong)

        write_manifest(args.out, server, cap,
                       "Raw Celery result-backend payloads captured from real "
                       "workers; see README.md.")
    finally:
        if demo is not None:
            harness.release_client(demo)
        if sub is not None:
            sub.stop()
        for w in workers:
            w.stop()
        server.stop()


if __name__ == "__main__":
    main()
