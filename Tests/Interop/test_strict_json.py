"""Every line taskwatch writes is strict JSON, whatever a worker stored.

Deep results and lone surrogates come from a real Celery worker; payloads
that are not JSON are SET straight into the private redis-server, and
Python's own json module is the judge of which of them are JSON.
"""

import json

import pytest

from conftest import new_id, parse_strict, wait_json_status


def send(task, queue, *args, task_id=None):
    return task.apply_async(args=args, queue=queue, task_id=task_id or new_id())


def test_a_result_600_levels_deep_is_read_as_celery_reads_it(tw, demo, rclient):
    tid = new_id()
    result = send(demo.nested, "json", 600, task_id=tid)
    assert result.get(timeout=15) is not None  # Celery itself reads it back
    wait_json_status(rclient, tid, {"SUCCESS"})
    run = tw.run(tid)
    assert run.returncode == 0, run.describe()[:2000]
    value, depth = run.states[-1]["meta"]["result"], 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert (depth, value) == (600, 1)


def test_a_lone_surrogate_is_written_as_u_fffd(tw, demo, rclient):
    tid = new_id()
    send(demo.truncated_text, "json", "ok \U0001F600", 4, task_id=tid)
    wait_json_status(rclient, tid, {"SUCCESS"})
    stored = rclient.get("celery-task-meta-" + tid)
    assert b'"ok \\ud83d"' in stored, stored  # what Celery's JSON wrote
    run = tw.run(tid)
    assert run.returncode == 0, run.describe()
    line = run.raw_lines[-1]
    line.decode("utf-8")  # strict UTF-8, no surrogate in it
    assert b"\\ud83d" not in line and b"\\ufffd" in line, line
    assert run.states[-1]["meta"]["result"] == "ok \ufffd"


# Values for `result`; Python's json.loads decides which are JSON (it also
# takes NaN, Infinity and -Infinity, which taskwatch writes as strings).
RESULTS = [
    "[-Infinity,1e5,-025]", "-025", "01", "-01", "1.", ".5", "1e", "+1", "0x10",
    "-NaN", "nan", '"\\x"', '"\\u12G4"', '"tab\there"', "[1,]", '{"a":1,}',
    '{1:2}', "'s'", "\f1",
    "0", "-0", "0.5", "-0.0e-0", "1E+2", "1e999", "NaN", "-Infinity",
    '"\\/\\b\\f\\n\\r\\t\\u00e9"', '"\x7f"', "[[],{}]",
]


def python_reads(payload):
    try:
        json.loads(payload)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("result", RESULTS)
def test_stored_payload_is_refused_exactly_when_python_json_refuses_it(tw, rclient, result):
    tid = new_id()
    payload = '{"status": "SUCCESS", "result": %s, "task_id": "%s"}' % (result, tid)
    rclient.set("celery-task-meta-" + tid, payload.encode("utf-8"))
    run = tw.run(tid, subprocess_timeout=20)
    if python_reads(payload):
        assert run.returncode == 0, run.describe()
        meta = parse_strict(run.raw_lines[-1])["meta"]
        assert meta["status"] == "SUCCESS"
    else:
        assert run.returncode == 65, run.describe()
        assert run.raw_lines == [] or all(parse_strict(line) for line in run.raw_lines)
        assert "not valid JSON" in run.stderr_text, run.stderr_text


@pytest.mark.parametrize("size", [399, 689])
def test_nested_msgpack_map_keys_are_refused_at_once(tw, rclient, size):
    """issue 21's fuzzed payload: map keys that are maps whose keys are maps…
    (81 81 81 … c0 c0 c0 …) used to keep the decoder busy for 20 s+."""
    header = b"\x86\xa6status\xa6SUCCES"
    depth = (size - len(header) - 1) // 2
    payload = header + b"\x81" * depth + b"\xc0" * (size - len(header) - depth)
    assert len(payload) == size
    tid = new_id()
    rclient.set("celery-task-meta-" + tid, payload)
    run = tw.run(tid, "--once", subprocess_timeout=20)
    assert run.returncode == 65, run.describe()
    assert "not valid msgpack" in run.stderr_text, run.stderr_text
    assert run.elapsed < 3, run.elapsed
