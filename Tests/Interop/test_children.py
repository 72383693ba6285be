"""`taskwatch --children` against real Celery 5.7 workers: tasks that start
other tasks (examples/celery-app/demoapp.py's workflow tasks).

Each test watches the task it sends with --children, waits for taskwatch to
exit, then compares the last state taskwatch printed for every id with
Celery's own AsyncResult(id).state, and the ids taskwatch followed with the
tree Celery itself reads back through AsyncResult.children.
"""

import pytest
from celery import Celery
from celery.result import GroupResult

from conftest import READY_STATES, new_id, wait_json_status
from test_celery_interop import check_state_lines


@pytest.fixture(scope="module")
def celery_reader(redis_server):
    """A Celery app that reads JSON results back (Celery decodes a result
    with its own result_serializer)."""
    yield from _reader(redis_server, "json")


@pytest.fixture(scope="module")
def msgpack_reader(redis_server):
    """A Celery app that reads the msgpack worker's results back."""
    yield from _reader(redis_server, "msgpack")


def _reader(redis_server, serializer):
    app = Celery("children-check-" + serializer, broker=redis_server.url(1),
                 backend=redis_server.url(0))
    app.conf.update(result_serializer=serializer, result_accept_content=[serializer],
                    accept_content=["json", serializer])
    yield app
    consumer = getattr(app.backend, "result_consumer", None)
    if consumer is not None:
        consumer.subscribed_to.clear()


def celery_tree(app, root):
    """{task id: parent id} for every task under `root`, as Celery's
    AsyncResult.children walks them (groups expanded, as collect() does)."""
    parents = {}
    todo = [root]
    while todo:
        task_id = todo.pop()
        for child in app.AsyncResult(task_id).children or []:
            for member in _members(child):
                if member.id not in parents and member.id != root:
                    parents[member.id] = task_id
                    todo.append(member.id)
    return parents


def _members(result):
    if isinstance(result, GroupResult):
        for member in result.results:
            yield from _members(member)
    else:
        yield result


def watch_tree(tw, demo, task, queue, args=(), extra=()):
    """Start `taskwatch --children <id>` before the task exists, then send it."""
    root = new_id()
    return root, tw.watch_then(
        [root], lambda: task.apply_async(args=args, queue=queue, task_id=root),
        "--children", *extra)


def finals(run):
    """The last state line of every id taskwatch printed."""
    last = {}
    for obj in run.states:
        last[obj["task_id"]] = obj
    return last


def check_tree(run, celery_reader, root, expected_count):
    """Every id of Celery's tree was followed, each line names its parent and
    the root, and every final state is ready and equals Celery's own."""
    last = finals(run)
    check_state_lines(run, list(last))
    tree = celery_tree(celery_reader, root)
    assert set(last) == {root} | set(tree), run.describe()
    assert len(last) == expected_count, run.describe()
    for obj in run.states:
        if obj["task_id"] == root:
            assert "parent_id" not in obj and "root_id" not in obj, obj
        else:
            assert obj["root_id"] == root, obj
            assert obj["parent_id"] == tree[obj["task_id"]], (obj, tree)
    for task_id, obj in last.items():
        assert obj["state"] in READY_STATES, run.describe()
        assert obj["state"] == celery_reader.AsyncResult(task_id).state, (task_id, run.describe())
    return last


def test_a_task_spawning_three_subtasks_ends_when_all_four_are_ready(tw, demo, celery_reader):
    root, run = watch_tree(tw, demo, demo.spawn, "json", args=(3, 0.3))
    assert run.returncode == 0, run.describe()
    last = check_tree(run, celery_reader, root, 4)
    lines = run.states
    root_ready = next(i for i, o in enumerate(lines) if o["task_id"] == root and o["ready"])
    # Not at the parent's SUCCESS: the subtasks (0.3 s each, one worker)
    # became ready after it, and taskwatch printed that before exiting.
    later = {o["task_id"] for o in lines[root_ready + 1:] if o["ready"]}
    assert later == set(last) - {root}, run.describe()
    assert lines[-1]["ready"], run.describe()


def test_nested_spawning_three_levels_deep(tw, demo, celery_reader):
    root, run = watch_tree(tw, demo, demo.spawn_tree, "json", args=(2, 2), extra=("--summary",))
    assert run.returncode == 0, run.describe()
    last = check_tree(run, celery_reader, root, 7)
    depth = {root: 0}
    for obj in run.states:
        if "parent_id" in obj:
            depth[obj["task_id"]] = depth[obj["parent_id"]] + 1
    assert sorted(depth.values()) == [0, 1, 1, 2, 2, 2, 2], depth
    summary = [o for o in run.objects if o.get("type") == "summary"]
    assert summary and summary[-1]["total"] == 7, run.describe()
    assert summary[-1]["states"] == {"SUCCESS": 7}, summary
    assert set(last) == set(depth)


def test_a_chord_built_inside_a_task(tw, demo, celery_reader):
    root, run = watch_tree(tw, demo, demo.spawn_chord, "json", args=(3,))
    assert run.returncode == 0, run.describe()
    # The header group as stored in the parent's children: its three tasks.
    last = check_tree(run, celery_reader, root, 4)
    root_meta = last[root]["meta"]
    (group_tuple, members), = root_meta["children"]
    assert len(members) == 3 and group_tuple[0] not in last, root_meta
    # Celery 5.7 stores no link to the body (it is the root's result here):
    # it is not part of the tree, as in AsyncResult.collect().
    assert root_meta["result"] not in last


def test_self_replace_with_a_group_ends_when_the_replacement_is_done(tw, demo, celery_reader):
    root, run = watch_tree(tw, demo, demo.replace_with_group, "json", args=(3,))
    assert run.returncode == 0, run.describe()
    last = check_tree(run, celery_reader, root, 1)
    # The replacement carries the replaced id: its SUCCESS is the group's
    # accumulated results, stored only after every member finished.
    assert last[root]["meta"]["result"] == [0, 2, 4], run.describe()
    # STARTED by the replaced task, then again by the replacement
    # (celery.accumulate, under the same id), then SUCCESS.
    states = [o["state"] for o in run.states]
    assert states[0] == "PENDING" and states[-1] == "SUCCESS", run.describe()
    assert set(states[1:-1]) == {"STARTED"}, run.describe()


def test_a_chain_started_inside_a_task_whose_last_step_fails(tw, demo, celery_reader):
    root, run = watch_tree(tw, demo, demo.spawn_failing_chain, "json", extra=("--summary",))
    assert run.returncode == 1, run.describe()
    last = check_tree(run, celery_reader, root, 4)
    failed = [task_id for task_id, obj in last.items() if obj["state"] == "FAILURE"]
    assert len(failed) == 1, run.describe()
    failure = last[failed[0]]
    assert failure["meta"]["result"]["exc_type"] == "ValueError", failure
    # The chain's steps hang one under the other: the failure is 3 levels down.
    chain = [failed[0]]
    while chain[-1] != root:
        chain.append(last[chain[-1]].get("parent_id", root))
    assert len(chain) == 4, chain
    summary = [o for o in run.objects if o.get("type") == "summary"][-1]
    assert summary["states"] == {"SUCCESS": 3, "FAILURE": 1}, summary
    assert summary["exit_code"] == 1, summary


def test_a_failing_chain_with_fail_fast_exits_1_at_the_failure(tw, demo, celery_reader):
    root, run = watch_tree(tw, demo, demo.spawn_failing_chain, "json", extra=("--fail-fast",))
    assert run.returncode == 1, run.describe()
    assert run.states[-1]["state"] == "FAILURE", run.describe()
    assert run.states[-1]["root_id"] == root, run.describe()


def test_msgpack_results_are_followed(tw, demo, msgpack_reader):
    # Sent by the msgpack reader: the demo client (JSON) would be subscribed
    # to the root's channel and fail to decode its msgpack messages later.
    root = new_id()
    run = tw.watch_then(
        [root], lambda: msgpack_reader.send_task("demoapp.spawn", args=(3, 0.1), queue="msgpack", task_id=root),
        "--children")
    assert run.returncode == 0, run.describe()
    check_tree(run, msgpack_reader, root, 4)


def test_a_child_ready_before_its_parent_lists_it_comes_from_the_snapshot(tw, demo, celery_reader):
    root, run = watch_tree(tw, demo, demo.spawn_then_wait, "json", args=("extended",))
    assert run.returncode == 0, run.describe()
    last = check_tree(run, celery_reader, root, 2)
    (child,) = set(last) - {root}
    lines = run.states_for(child)
    assert [(o["state"], o["source"]) for o in lines] == [("SUCCESS", "snapshot")], run.describe()


def test_a_finished_tree_is_read_whole_by_once(tw, demo, celery_reader):
    root, first = watch_tree(tw, demo, demo.spawn_tree, "json", args=(2, 2))
    assert first.returncode == 0, first.describe()
    run = tw.run("--children", "--once", root)
    assert run.returncode == 0, run.describe()
    assert {o["source"] for o in run.states} == {"snapshot"}, run.describe()
    check_tree(run, celery_reader, root, 7)


def test_an_unready_subtask_at_the_deadline_exits_124_counting_the_tree(tw, demo, rclient):
    root = new_id()
    run = tw.start("--children", root, timeout="2s")
    run.wait_line(lambda o: o.get("source") == "snapshot")
    demo.spawn.apply_async(args=(1, 3.0), queue="json", task_id=root)
    run.finish()
    assert run.returncode == 124, run.describe()
    assert "with 1 of 2 tasks unready" in run.stderr_text, run.describe()
    # Leave the worker idle for the next test.
    (child,) = wait_json_status(rclient, root, {"SUCCESS"})["result"]
    wait_json_status(rclient, child, {"SUCCESS"})
