"""examples/watch-tasks (TaskWatch's async API in a package of its own)
against results written by a real Celery 5.7 worker.

The program is $TASKWATCH_EXAMPLE_BIN (scripts/test builds it with
scripts/check-example), default examples/watch-tasks/.build/debug/watch-tasks.
"""

import os
import subprocess

import pytest

from conftest import new_id, wait_json_status

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def example_bin():
    binary = os.environ.get("TASKWATCH_EXAMPLE_BIN") or os.path.join(
        REPO, "examples", "watch-tasks", ".build", "debug", "watch-tasks")
    if not os.access(binary, os.X_OK):
        pytest.fail("examples/watch-tasks is not built at %s (run scripts/check-example)" % binary)
    return binary


def watch(binary, redis_server, *task_ids):
    proc = subprocess.run([binary, redis_server.url(0), *task_ids],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


def test_example_follows_a_live_task_to_its_result(example_bin, redis_server, demo):
    tid = new_id()
    proc = subprocess.Popen([example_bin, redis_server.url(0), tid],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # the snapshot: subscribed and read before the task runs
        assert first == "%s PENDING (snapshot)\n" % tid, first
        demo.add.apply_async(args=(2, 3), queue="json", task_id=tid)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    lines = out.splitlines()
    assert proc.returncode == 0, (lines, err)
    assert "%s STARTED (message)" % tid in lines, lines
    assert lines[-2:] == ["%s SUCCESS (message)" % tid, "%s SUCCESS result 5" % tid], lines


def test_example_reads_a_stored_failure_as_an_exception(example_bin, redis_server, demo, rclient):
    tid = new_id()
    demo.fail.apply_async(queue="json", task_id=tid)
    wait_json_status(rclient, tid, {"FAILURE"})
    status, lines, err = watch(example_bin, redis_server, tid)
    assert status == 1, (lines, err)
    assert lines == ["%s FAILURE (snapshot)" % tid, "%s FAILURE exception ValueError: boom" % tid], lines
