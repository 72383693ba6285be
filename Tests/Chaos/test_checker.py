"""The soak's checker, on hand-made runs: a clean one passes, and each kind of
defect it exists to catch is reported."""

import json
import random

import pytest

import checker
from celery_publisher import plan_life

A, B = "a0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002"


def lives():
    """Two task lives with distinct payloads: A ends in SUCCESS, B in FAILURE."""
    rng = random.Random(5)
    steps = {}
    for task_id, final in ((A, "SUCCESS"), (B, "FAILURE")):
        while True:
            life = plan_life(rng, task_id, 0.0, 0.1)
            if life[-1][1] == final and len(life) >= 3:
                break
        steps[task_id] = [(float(n), payload) for n, (_, _, payload) in enumerate(life)]
    return steps


def line(task_id, payload, previous, source="message"):
    meta = json.loads(payload) if payload else None
    state = meta["status"] if meta else "PENDING"
    return json.dumps({"type": "state", "task_id": task_id, "state": state, "previous": previous,
                       "ready": state in checker.READY, "source": source,
                       "observed_at": "2026-12-02T15:00:00.000Z", "meta": meta})


def stream(published, picks, first_source="snapshot"):
    """Lines for `picks` [(task, step index or None for PENDING)], previous chained."""
    last, out = {}, []
    for task_id, index in picks:
        payload = None if index is None else published[task_id][index][1]
        source = first_source if task_id not in last else "message"
        out.append((0.0, line(task_id, payload, last.get(task_id), source)))
        last[task_id] = json.loads(payload)["status"] if payload else "PENDING"
    return out


def full(published, task_id):
    return [(task_id, n) for n in range(len(published[task_id]))]


def test_a_clean_ids_run_passes():
    published = lives()
    picks = [(A, None), (B, 0)] + full(published, A)[:1] + full(published, B)[1:] + full(published, A)[1:]
    report = checker.check("ids", [A, B], published, stream(published, picks), 1)
    assert report.ok, report.summary()
    assert report.transitions_checked == len(picks)


@pytest.mark.parametrize("kind, mutate", [
    ("out of order", lambda p: [(A, None), (B, None), (A, 1), (A, 0)] + full(p, A)[2:] + full(p, B)),
    ("repeated state", lambda p: [(A, None), (B, None), (A, 0), (A, 0)] + full(p, A)[1:] + full(p, B)),
    ("ready line", lambda p: [(A, None), (B, None)] + full(p, A) + full(p, A)[-1:] + full(p, B)),
    ("lost task", lambda p: [(A, None)] + full(p, A)),
])
def test_each_defect_is_reported(kind, mutate):
    published = lives()
    report = checker.check("ids", [A, B], published, stream(published, mutate(published)), 1)
    assert kind in report.violations, report.summary()


def test_a_missing_last_state_is_reported():
    published = lives()
    picks = [(A, None), (B, None)] + full(published, A)[:-1] + full(published, B)
    report = checker.check("ids", [A, B], published, stream(published, picks), 1)
    assert "ready line" in report.violations


def test_previous_must_be_chained_and_json_strict():
    published = lives()
    lines = stream(published, [(A, None), (B, None)] + full(published, A) + full(published, B))
    broken = json.loads(lines[3][1])
    broken["previous"] = "SUCCESS"
    lines[3] = (0.0, json.dumps(broken))
    lines.append((0.0, lines[-1][1].replace('"children": []', '"children": [NaN]')))
    report = checker.check("ids", [A, B], published, lines, 1)
    assert "previous not chained" in report.violations
    assert "invalid JSON" in report.violations


def test_exit_status_must_follow_the_final_states():
    published = lives()
    picks = [(A, None), (B, None)] + full(published, A) + full(published, B)
    report = checker.check("ids", [A, B], published, stream(published, picks), 0)
    assert "exit status" in report.violations  # B failed: 1


def test_all_mode_counts_the_blind_spot_and_flags_other_losses():
    published = lives()
    lines = stream(published, full(published, A), first_source="message")
    never_delivered = {A: [(at, p, False) for at, p in published[A]]}
    report = checker.check("all", [A, B], published, lines, 0, subscribed_at=-5.0, deliveries=never_delivered)
    assert report.ok and report.blind_spot == 1, report.summary()
    unread = dict(never_delivered, **{B: [(published[B][0][0], published[B][0][1], True)]})
    assert checker.check("all", [A, B], published, lines, 0, subscribed_at=-5.0, deliveries=unread).ok
    delivered = dict(never_delivered, **{B: [(published[B][0][0], published[B][0][1], False)]})
    report = checker.check("all", [A, B], published, lines, 0, subscribed_at=-5.0, deliveries=delivered)
    assert "lost task" in report.violations
