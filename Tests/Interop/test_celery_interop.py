"""taskwatch against real Celery 5.7 workers (DESIGN.md sections 4-6).

Every test runs the built taskwatch binary with --timeout 30s (or a shorter
one where the test is about the deadline) and a subprocess timeout, and judges
it by its NDJSON stdout, stderr and exit status.
"""

import re
import shutil
import subprocess
import time

import pytest
from celery import _state as celery_state
from celery import group
from celery.result import AsyncResult, GroupResult

from conftest import (READY_STATES, new_id, parse_strict, wait_json_status,
                      wait_stored)

STATE_KEYS = {"type", "task_id", "state", "previous", "ready", "source",
              "observed_at", "meta"}
OBSERVED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def check_state_lines(run, task_ids):
    """The invariants of DESIGN.md section 5 for every task's lines."""
    for line in run.raw_lines:
        parse_strict(line)  # each line alone is one valid JSON object
    for task_id in task_ids:
        lines = run.states_for(task_id)
        assert lines, "no state line for %s\n%s" % (task_id, run.describe())
        previous = None
        for i, obj in enumerate(lines):
            assert STATE_KEYS <= set(obj), obj
            assert obj["source"] in ("snapshot", "message", "resync"), obj
            assert OBSERVED_AT.match(obj["observed_at"]), obj
            assert obj["previous"] == previous, (i, obj, run.describe())
            assert obj["ready"] == (obj["state"] in READY_STATES), obj
            if obj["meta"] is None:
                assert obj["state"] == "PENDING", obj
            else:
                assert obj["meta"]["status"] == obj["state"], obj
            previous = obj["state"]
        assert lines[0]["source"] == "snapshot", lines[0]
        # Ready is final for the run: nothing after the first ready line.
        ready = [i for i, o in enumerate(lines) if o["ready"]]
        if ready:
            assert ready[0] == len(lines) - 1, run.describe()
        # Exact repeats are never printed.
        metas = [repr(o["meta"]) for o in lines]
        assert len(metas) == len(set(metas)), run.describe()


def final(run, task_id):
    return run.states_for(task_id)[-1]


def states_of(run, task_id):
    return [o["state"] for o in run.states_for(task_id)]


def send(task, queue, *args, task_id=None, **kwargs):
    return task.apply_async(args=args, kwargs=kwargs, queue=queue,
                            task_id=task_id or new_id())


def send_unwatched(task, queue, *args, task_id=None, **kwargs):
    """Send without the sender subscribing to the result's channel (Celery's
    on_task_call does): a pickle worker's message left there would make the
    sender's next get(), in any later test, raise kombu's DecodeError."""
    before = celery_state.task_join_will_block()
    celery_state._set_task_join_will_block(True)
    try:
        return send(task, queue, *args, task_id=task_id, **kwargs)
    finally:
        celery_state._set_task_join_will_block(before)


def comparable(meta):
    """A meta without the fields that differ between two runs of one task."""
    return {k: v for k, v in meta.items() if k not in ("task_id", "date_done")}


# --- the basic states -------------------------------------------------------

def test_add_success_reports_started_before_success(tw, demo):
    tid = new_id()
    run = tw.watch_then([tid], lambda: send(demo.add, "json", 2, 3, task_id=tid))
    assert run.returncode == 0, run.describe()
    check_state_lines(run, [tid])
    states = states_of(run, tid)
    assert states[0] == "PENDING" and run.states_for(tid)[0]["meta"] is None
    assert "STARTED" in states and states.index("STARTED") < states.index("SUCCESS"), states
    assert states[-1] == "SUCCESS"
    last = final(run, tid)
    assert last["meta"]["result"] == 5
    assert last["source"] == "message"
    started = run.states_for(tid)[states.index("STARTED")]
    assert started["meta"]["result"]["hostname"] == "json@taskwatch"
    assert started["meta"]["date_done"] is None


def test_fail_reports_failure_with_traceback_and_exits_1(tw, demo):
    tid = new_id()
    run = tw.watch_then([tid], lambda: send(demo.fail, "json", task_id=tid))
    assert run.returncode == 1, run.describe()
    check_state_lines(run, [tid])
    last = final(run, tid)
    assert last["state"] == "FAILURE"
    result = last["meta"]["result"]
    assert result["exc_type"] == "ValueError"
    assert result["exc_message"] == ["boom"]
    assert result["exc_module"] == "builtins"
    assert "Traceback (most recent call last)" in last["meta"]["traceback"]
    assert 'raise ValueError("boom")' in last["meta"]["traceback"]


def test_progress_lines_come_in_order_then_success(tw, demo):
    tid = new_id()
    run = tw.watch_then([tid], lambda: send(demo.progress, "json", 3,
                                            delay=0.2, task_id=tid))
    assert run.returncode == 0, run.describe()
    check_state_lines(run, [tid])
    progress = [o["meta"]["result"] for o in run.states_for(tid)
                if o["state"] == "PROGRESS"]
    assert progress == [{"current": i, "total": 3} for i in (1, 2, 3)], run.describe()
    assert states_of(run, tid)[-1] == "SUCCESS"
    assert final(run, tid)["meta"]["result"] == 3
    # PROGRESS -> PROGRESS transitions are lines of their own.
    assert [o["previous"] for o in run.states_for(tid)
            if o["state"] == "PROGRESS"][1:] == ["PROGRESS", "PROGRESS"]


def test_retry_once_reports_retry_then_success(tw, demo):
    tid = new_id()
    run = tw.watch_then([tid], lambda: send(demo.retry_once, "json",
                                            countdown=0.2, task_id=tid))
    assert run.returncode == 0, run.describe()
    check_state_lines(run, [tid])
    states = states_of(run, tid)
    assert "RETRY" in states and states.index("RETRY") < states.index("SUCCESS"), states
    retry = run.states_for(tid)[states.index("RETRY")]
    assert retry["ready"] is False
    assert retry["meta"]["result"]["exc_type"] == "RuntimeError"
    assert final(run, tid)["meta"]["result"] == 1


# --- revoked ----------------------------------------------------------------

def test_revoked_before_it_runs_ends_revoked_once_and_exits_1(tw, demo, rclient):
    """Celery 5.7 publishes REVOKED twice for this (the control handler, then
    the worker when the message arrives) with different payloads; taskwatch
    prints the first and treats the task as final."""
    revoked, witness = new_id(), new_id()

    def submit():
        # Only the JSON worker: each worker that hears a broadcast revoke may
        # write REVOKED itself, in its own serializer and key prefix.
        demo.app.control.revoke(revoked, destination=["json@taskwatch"])
        send(demo.add, "json", 1, 1, task_id=revoked)
        # Queued behind the revoked message on the same solo worker, so the
        # second REVOKED publish happens while taskwatch still runs.
        send(demo.add, "json", 2, 2, task_id=witness)

    run = tw.watch_then([revoked, witness], submit)
    assert run.returncode == 1, run.describe()
    check_state_lines(run, [revoked, witness])
    lines = run.states_for(revoked)
    assert [o["state"] for o in lines].count("REVOKED") == 1, run.describe()
    assert lines[-1]["meta"]["result"]["exc_type"] == "TaskRevokedError"
    assert lines[-1]["meta"]["result"]["exc_message"] == ["revoked"]
    assert final(run, witness)["state"] == "SUCCESS"


def test_revoked_with_terminate_while_running_ends_revoked_and_exits_1(tw, demo):
    tid = new_id()
    run = tw.start(tid)
    run.wait_line(lambda o: o.get("task_id") == tid and o.get("source") == "snapshot")
    send(demo.sleepy, "prefork", 10, task_id=tid)
    run.wait_line(lambda o: o.get("task_id") == tid and o.get("state") == "STARTED")
    demo.app.control.revoke(tid, terminate=True, destination=["prefork@taskwatch"])
    run.finish()
    assert run.returncode == 1, run.describe()
    check_state_lines(run, [tid])
    assert states_of(run, tid).count("REVOKED") == 1, run.describe()
    assert final(run, tid)["meta"]["result"]["exc_message"] == ["terminated"]
    assert run.elapsed < 10, "taskwatch waited for the task instead of the revoke"


# --- JSON edge cases --------------------------------------------------------

def test_nan_and_infinity_results_give_valid_json_lines(tw, demo, rclient):
    nan, inf = new_id(), new_id()
    run = tw.watch_then([nan, inf], lambda: (
        send(demo.nan_result, "json", task_id=nan),
        send(demo.infinity_result, "json", task_id=inf)))
    assert run.returncode == 0, run.describe()
    check_state_lines(run, [nan, inf])  # parse_strict rejects bare NaN
    assert final(run, nan)["meta"]["result"] == "NaN"
    assert final(run, inf)["meta"]["result"] == ["Infinity", "-Infinity", "NaN", 1.5]

    # The same from the snapshot, through jq.
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq not installed")
    proc = subprocess.run(
        ["bash", "-c", 'set -o pipefail; "$@" | jq -c .', "bash", tw.binary,
         "--url", tw.url, "--timeout", "30s", nan, inf],
        capture_output=True, timeout=45)
    assert proc.returncode == 0, proc
    assert len(proc.stdout.splitlines()) == 2, proc.stdout


def test_kombu_type_envelopes_are_passed_through(tw, demo, rclient):
    tid = new_id()
    send(demo.typed_result, "json", "all", task_id=tid)
    wait_json_status(rclient, tid, {"SUCCESS"})
    run = tw.run(tid)
    assert run.returncode == 0, run.describe()
    result = final(run, tid)["meta"]["result"]
    assert result["datetime"] == {"__type__": "datetime",
                                  "__value__": "2026-11-25T19:12:08.938000+00:00"}
    assert result["uuid"] == {"__type__": "uuid",
                              "__value__": {"hex": "6f1c3e2a8d4b4c5e9f00123456789abc"}}
    assert result["decimal"] == {"__type__": "decimal",
                                 "__value__": "3.14159265358979323846"}
    assert result["bytes"] == {"__type__": "bytes", "__value__": "hello bytes"}
    assert result["binary"] == {"__type__": "base64", "__value__": "/wD+"}


# --- worker settings --------------------------------------------------------

def test_result_extended_fields_are_in_meta(tw, demo):
    tid = new_id()
    run = tw.watch_then([tid], lambda: send(demo.add, "extended", 2, y=3, task_id=tid))
    assert run.returncode == 0, run.describe()
    check_state_lines(run, [tid])
    meta = final(run, tid)["meta"]
    assert meta["result"] == 5
    assert meta["name"] == "demoapp.add"
    assert meta["args"] == [2]
    assert meta["kwargs"] == {"y": 3}
    assert meta["worker"] == "extended@taskwatch"
    assert meta["queue"] == "extended"
    assert meta["retries"] == 0


def test_global_keyprefix_myapp_is_found_with_the_flag(tw, demo, rclient):
    tid = new_id()
    run = tw.watch_then([tid], lambda: send(demo.add, "prefix", 2, 3, task_id=tid),
                        "--global-keyprefix", "myapp")
    assert run.returncode == 0, run.describe()
    check_state_lines(run, [tid])
    assert states_of(run, tid)[-1] == "SUCCESS"
    assert "STARTED" in states_of(run, tid)
    # Celery 5.7 names the key (and channel) myapp_celery-task-meta-<id>.
    assert rclient.exists("myapp_celery-task-meta-" + tid)
    # Without the flag the task is not found: PENDING, and --once says 124.
    once = tw.run("--once", tid)
    assert once.returncode == 124, once.describe()
    assert [o["state"] for o in once.states] == ["PENDING"]


def test_msgpack_worker_gives_the_same_json_as_a_json_worker(tw, demo, rclient):
    ids = {(q, name): new_id() for q in ("json", "msgpack")
           for name in ("add", "fail", "progress")}

    def submit():
        for q in ("json", "msgpack"):
            send(demo.add, q, 2, 3, task_id=ids[q, "add"])
            send(demo.fail, q, task_id=ids[q, "fail"])
            send(demo.progress, q, 2, delay=0.05, task_id=ids[q, "progress"])

    run = tw.watch_then(list(ids.values()), submit)
    assert run.returncode == 1, run.describe()  # the fail() tasks
    check_state_lines(run, ids.values())
    for name in ("add", "fail", "progress"):
        j = [comparable(o["meta"]) for o in run.states_for(ids["json", name])
             if o["state"] not in ("PENDING", "STARTED")]
        m = [comparable(o["meta"]) for o in run.states_for(ids["msgpack", name])
             if o["state"] not in ("PENDING", "STARTED")]
        assert j == m, (name, j, m)


CONTENT_TYPES = {"zlib": b"application/x-gzip", "gzip": b"application/x-gzip",
                 "bzip2": b"application/x-bz2", "lzma": b"application/x-lzma",
                 "brotli": b"application/x-brotli", "zstd": b"application/zstd"}


@pytest.mark.parametrize("queue", ["zlib", "gzip", "bzip2", "lzma", "brotli", "zstd"])
def test_compressed_results_are_decoded(tw, demo, rclient, queue):
    ok, bad = new_id(), new_id()
    run = tw.watch_then([ok, bad], lambda: (
        send(demo.add, queue, 2, 3, task_id=ok),
        send(demo.fail, queue, task_id=bad)))
    assert run.returncode == 1, run.describe()
    check_state_lines(run, [ok, bad])
    assert final(run, ok)["meta"]["result"] == 5
    assert "STARTED" in states_of(run, ok)  # published compressed too
    assert final(run, bad)["meta"]["result"]["exc_type"] == "ValueError"
    stored = rclient.get("celery-task-meta-" + ok)
    assert stored.startswith(b"\x00celery-compressed\x00" + CONTENT_TYPES[queue] + b"\x00")
    # A result of 200,000 characters compresses to a few hundred bytes.
    big = new_id()
    send(demo.add, queue, "x" * 100_000, "y" * 100_000, task_id=big)
    # Celery's own reading of the stored (compressed) key says when it is ready.
    wait_stored(rclient, "celery-task-meta-" + big, lambda _: AsyncResult(big, app=demo.app).ready())
    run = tw.run(big)
    assert run.returncode == 0, run.describe()[:2000]
    assert final(run, big)["meta"]["result"] == "x" * 100_000 + "y" * 100_000


def test_pickle_result_is_refused_with_exit_65(tw, demo, rclient):
    tid = new_id()
    send_unwatched(demo.add, "pickle", 2, 3, task_id=tid)
    wait_stored(rclient, "celery-task-meta-" + tid, lambda d: b"SUCCESS" in d)
    run = tw.run(tid)
    assert run.returncode == 65, run.describe()
    lines = [l for l in run.stderr_text.splitlines() if l.startswith("taskwatch:")]
    assert any("pickle" in l and 'result_serializer="json"' in l for l in lines), \
        run.describe()


def test_one_pickle_result_among_json_ones_is_reported_and_the_rest_watched(tw, demo, rclient):
    """A pickle worker's task ends its own watch with an "unreadable" line;
    every JSON task is still watched to the end, and the run exits 65."""
    pickled, first, slow = new_id(), new_id(), new_id()
    run = tw.watch_then([pickled, first, slow], lambda: (
        send_unwatched(demo.add, "pickle", 2, 3, task_id=pickled),
        send(demo.add, "json", 1, 1, task_id=first),
        send(demo.progress, "json", 3, delay=0.3, task_id=slow)), "--summary")
    assert run.returncode == 65, run.describe()
    check_state_lines(run, [first, slow])
    assert states_of(run, first)[-1] == "SUCCESS"
    assert final(run, first)["meta"]["result"] == 2
    assert states_of(run, slow).count("PROGRESS") == 3, run.describe()
    assert states_of(run, slow)[-1] == "SUCCESS"
    unreadable = [o for o in run.objects if o.get("type") == "unreadable"]
    assert len(unreadable) == 1, run.describe()
    line = unreadable[0]
    assert line["task_id"] == pickled and line["serializer"] == "pickle", line
    assert 'result_serializer="json"' in line["fix"] and line["ready"] is True, line
    assert states_of(run, pickled) == ["PENDING"]
    # The pickle task was unreadable before the slow JSON task finished.
    order = [(o.get("type"), o.get("task_id"), o.get("state")) for o in run.objects]
    assert order.index(("unreadable", pickled, None)) < order.index(("state", slow, "SUCCESS")), order
    summary = run.objects[-1]
    assert summary["type"] == "summary" and summary["exit_code"] == 65, summary
    assert summary["states"].get("UNREADABLE") == 1 and summary["unreadable"] == [pickled], summary
    assert summary["unready"] == [], summary
    stderr = [l for l in run.stderr_text.splitlines() if pickled in l]
    assert len(stderr) == 1 and "pickle" in stderr[0], run.describe()


def test_a_failure_outranks_an_unreadable_result(tw, demo, rclient):
    pickled, bad = new_id(), new_id()
    run = tw.watch_then([pickled, bad], lambda: (
        send_unwatched(demo.add, "pickle", 2, 3, task_id=pickled),
        send(demo.fail, "json", task_id=bad)))
    assert run.returncode == 1, run.describe()
    assert states_of(run, bad)[-1] == "FAILURE"
    assert [o["task_id"] for o in run.objects if o.get("type") == "unreadable"] == [pickled]


# --- snapshot, groups, deadlines ---------------------------------------------

def test_results_finished_before_start_come_from_the_snapshot(tw, demo, rclient):
    ok, bad = new_id(), new_id()
    send(demo.add, "json", 7, 8, task_id=ok)
    send(demo.fail, "json", task_id=bad)
    wait_json_status(rclient, ok, READY_STATES)
    wait_json_status(rclient, bad, READY_STATES)
    run = tw.run(bad, ok)
    assert run.returncode == 1, run.describe()
    check_state_lines(run, [ok, bad])
    assert [o["task_id"] for o in run.states] == [bad, ok]  # order given
    assert all(o["source"] == "snapshot" for o in run.states), run.describe()
    assert final(run, ok)["meta"]["result"] == 15
    assert final(run, ok)["previous"] is None
    assert run.elapsed < 5, "a finished run must exit at once (%.1fs)" % run.elapsed


def test_saved_group_watches_all_its_children(tw, demo, rclient):
    g = group(demo.add.s(1, 2).set(queue="json"),
              demo.add.s(3, 4).set(queue="json")).apply_async()
    g.save()
    children = [r.id for r in g.results]
    run = tw.run("--group", g.id)
    assert run.returncode == 0, run.describe()
    check_state_lines(run, children)
    assert {final(run, c)["meta"]["result"] for c in children} == {3, 7}


def test_nested_saved_group_is_expanded(tw, demo, rclient):
    inner = group(demo.add.s(5, 5).set(queue="json"),
                  demo.add.s(6, 6).set(queue="json")).apply_async()
    inner.save()
    first = send(demo.add, "json", 1, 1)
    outer = GroupResult(new_id(), [first, inner], app=demo.app)
    outer.save()
    children = [first.id] + [r.id for r in inner.results]
    run = tw.run("--group", outer.id)
    assert run.returncode == 0, run.describe()
    check_state_lines(run, children)
    assert {final(run, c)["meta"]["result"] for c in children} == {2, 10, 12}
    watched = {o["task_id"] for o in run.states}
    assert inner.id not in watched and outer.id not in watched


def test_group_saved_after_start_is_waited_for(tw, demo, rclient):
    gid, a, b = new_id(), new_id(), new_id()

    def submit():
        GroupResult(gid, [AsyncResult(a, app=demo.app), AsyncResult(b, app=demo.app)],
                    app=demo.app).save()
        send(demo.add, "json", 1, 1, task_id=a)
        send(demo.sleepy, "json", 0.3, task_id=b)

    run = tw.start("--group", gid)
    time.sleep(1.0)  # no snapshot line can exist yet: the group has no key
    assert run.proc.poll() is None, run.describe()
    submit()
    run.finish()
    assert run.returncode == 0, run.describe()
    check_state_lines(run, [a, b])


def test_timeout_with_unready_task_exits_124(tw):
    tid = new_id()  # never sent: PENDING for ever
    run = tw.run(tid, timeout="1s", subprocess_timeout=15)
    assert run.returncode == 124, run.describe()
    assert [o["state"] for o in run.states] == ["PENDING"]
    assert run.states[0]["meta"] is None
    assert 0.9 <= run.elapsed < 5, run.elapsed


# --- TLS ----------------------------------------------------------------------

def test_rediss_url_shared_with_a_celery_worker_reports_its_results(tw_tls, demo):
    """One rediss://…?ssl_cert_reqs=required&ssl_ca_certs=… string, as Celery
    takes it: the worker stores results through it, taskwatch watches them
    through it."""
    assert tw_tls.url.startswith("rediss://")
    tid = new_id()
    run = tw_tls.watch_then([tid], lambda: send(demo.add, "tls", 20, 22, task_id=tid))
    assert run.returncode == 0, run.describe()
    check_state_lines(run, [tid])
    states = states_of(run, tid)
    assert states[0] == "PENDING" and states[-1] == "SUCCESS", states
    assert "STARTED" in states, states
    started = run.states_for(tid)[states.index("STARTED")]
    assert started["meta"]["result"]["hostname"] == "tls@taskwatch"
    assert final(run, tid)["meta"]["result"] == 42
    failing = new_id()
    run = tw_tls.watch_then([failing], lambda: send(demo.fail, "tls", task_id=failing))
    assert run.returncode == 1, run.describe()
    assert final(run, failing)["meta"]["result"]["exc_type"] == "ValueError"

