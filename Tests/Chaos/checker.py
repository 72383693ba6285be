"""Checks one taskwatch run's output against what was published.

Per task: the printed states are a subsequence of those published, in order
(every printed `meta` is a published payload of that task, each later than
the one before); `previous` is chained; exactly one ready line, the last,
carrying the last payload; the exit status is the one the final states imply;
every line is strict JSON (no NaN or Infinity tokens). In ids mode every task
must reach its ready line, after one snapshot line per task in the order
given. Under `--all`, a task never printed is allowed only if its whole life
came before the watcher subscribed, or if none of its messages can have been
read by the watcher (the proxy records every message it delivered, and
whether a reset or the watcher's own close may have discarded it unread):
the blind spot README admits, since plain Redis cannot list the keys written
while the watcher was not subscribed. Those are counted; a task of which the
watcher read a message and never printed is a violation.
"""

import collections
import json

READY = {"SUCCESS", "FAILURE", "REVOKED"}
LINE_FIELDS = {"type", "task_id", "state", "previous", "ready", "source", "observed_at", "meta"}


def _reject_constant(name):
    raise ValueError("not strict JSON: %s" % name)


def strict_json(text):
    """json.loads that refuses NaN, Infinity and -Infinity, as a strict parser does."""
    return json.loads(text, parse_constant=_reject_constant)


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Report:
    """What one check found: counters and violations by kind."""

    def __init__(self, mode):
        self.mode = mode
        self.lines = 0
        self.tasks_seen = 0
        self.transitions_checked = 0
        self.published = 0
        self.before_start = 0
        self.blind_spot = 0
        self.violations = collections.defaultdict(list)

    def violate(self, kind, detail):
        self.violations[kind].append(detail)

    @property
    def ok(self):
        return not self.violations

    def summary(self, limit=5):
        out = ["%s mode: %d lines, %d tasks printed, %d transitions checked against %d published"
               % (self.mode, self.lines, self.tasks_seen, self.transitions_checked, self.published)]
        if self.mode == "all":
            out.append("  not printed: %d tasks whose life ended before the watcher subscribed, "
                       "%d none of whose messages reached its socket (the admitted blind spot)"
                       % (self.before_start, self.blind_spot))
        for kind, details in sorted(self.violations.items()):
            out.append("  VIOLATION %s: %d" % (kind, len(details)))
            out.extend("    " + detail for detail in details[:limit])
        if self.ok:
            out.append("  no violations")
        return "\n".join(out)


def check(mode, task_ids, published, stdout_lines, exit_code, subscribed_at=None, deliveries=None):
    """Checks one run.

    mode: "ids" or "all". task_ids: the ids in the order given (ids mode) or
    every task published. published: {id: [(time, payload)]} in commit order.
    stdout_lines: [(time, text)]. subscribed_at: when the --all watcher's
    pattern subscription was in place; deliveries: {id: [(time, payload,
    maybe_unread)]}, the messages the proxy handed to the --all watcher."""
    report = Report(mode)
    report.lines = len(stdout_lines)
    report.published = sum(len(steps) for steps in published.values())
    index_of = {task_id: {_canonical(json.loads(payload)): number
                          for number, (_, payload) in enumerate(steps)}
                for task_id, steps in published.items()}
    by_task = collections.OrderedDict()
    for number, (_, text) in enumerate(stdout_lines, 1):
        try:
            line = strict_json(text)
        except ValueError as error:
            report.violate("invalid JSON", "line %d: %s: %.120s" % (number, error, text))
            continue
        if not isinstance(line, dict) or set(line) != LINE_FIELDS or line["type"] != "state":
            report.violate("unexpected line", "line %d: %.160s" % (number, text))
            continue
        if line["task_id"] not in index_of:
            report.violate("unknown task", "line %d: %s" % (number, line["task_id"]))
            continue
        by_task.setdefault(line["task_id"], []).append(line)
    report.tasks_seen = len(by_task)

    if mode == "ids":
        firsts = [lines[0] for lines in by_task.values()]
        order = [line["task_id"] for line in firsts]
        if order != list(task_ids) or any(line["source"] != "snapshot" for line in firsts):
            report.violate("snapshot", "the first line of each task must be its snapshot, in the order given")

    any_failed = False
    for task_id, lines in by_task.items():
        failed = _check_task(report, mode, task_id, lines, index_of[task_id], published[task_id])
        any_failed = any_failed or failed

    for task_id in task_ids:
        if task_id in by_task:
            continue
        times = [at for at, _ in published[task_id]]
        if mode == "ids":
            report.violate("lost task", "%s: no line at all" % task_id)
        elif subscribed_at is not None and times and times[-1] < subscribed_at:
            report.before_start += 1
        else:
            delivered = [at for at, _, maybe_unread in (deliveries or {}).get(task_id, []) if not maybe_unread]
            if not delivered:
                report.blind_spot += 1
            else:
                report.violate("lost task", "%s: never printed; published at %s; delivered to it at %s" % (
                    task_id, ", ".join("%.2f" % t for t in times), ", ".join("%.2f" % t for t in delivered)))

    if mode == "ids":
        finals = [json.loads(published[t][-1][1])["status"] for t in task_ids]
        expected = 0 if all(state == "SUCCESS" for state in finals) else 1
    else:
        expected = 1 if any_failed else 0
    if exit_code != expected:
        report.violate("exit status", "exited %s, the final states imply %d" % (exit_code, expected))
    return report


def _check_task(report, mode, task_id, lines, index_of, steps):
    """Checks one task's lines; returns whether it ended in FAILURE or REVOKED."""
    trail = []
    last_index = -1
    for number, line in enumerate(lines):
        report.transitions_checked += 1
        expected_previous = lines[number - 1]["state"] if number else None
        if line["previous"] != expected_previous:
            report.violate("previous not chained", "%s: line %d has previous %r after %r" % (
                task_id, number + 1, line["previous"], expected_previous))
        if line["ready"] != (line["state"] in READY):
            report.violate("ready flag", "%s: %s with ready=%r" % (task_id, line["state"], line["ready"]))
        if line["meta"] is None:
            if not (number == 0 and mode == "ids" and line["state"] == "PENDING"
                    and line["source"] == "snapshot"):
                report.violate("unexpected null meta", "%s: line %d (%s, %s)" % (
                    task_id, number + 1, line["state"], line["source"]))
            trail.append("PENDING/%s" % line["source"])
            continue
        index = index_of.get(_canonical(line["meta"]))
        trail.append("%s#%s/%s" % (line["state"], index, line["source"]))
        if index is None:
            report.violate("unpublished payload", "%s: line %d carries a meta never published: %.120s"
                           % (task_id, number + 1, json.dumps(line["meta"])))
            continue
        if json.loads(steps[index][1])["status"] != line["state"]:
            report.violate("state mismatch", "%s: line %d says %s for a %s payload" % (
                task_id, number + 1, line["state"], json.loads(steps[index][1])["status"]))
        if index <= last_index:
            kind = "repeated state" if index == last_index else "out of order"
            report.violate(kind, "%s: printed %s; published %s" % (
                task_id, " -> ".join(trail),
                " -> ".join("%s#%d" % (json.loads(p)["status"], i) for i, (_, p) in enumerate(steps))))
        last_index = max(last_index, index)

    ready = [number for number, line in enumerate(lines) if line["ready"]]
    if len(ready) != 1 or ready[0] != len(lines) - 1:
        report.violate("ready line", "%s: ready lines at %s of %d lines: %s" % (
            task_id, [n + 1 for n in ready], len(lines), " -> ".join(trail)))
    elif lines[-1]["meta"] is not None and _canonical(lines[-1]["meta"]) != _canonical(json.loads(steps[-1][1])):
        report.violate("last payload", "%s: the ready line is not the last payload published: %s" % (
            task_id, " -> ".join(trail)))
    return any(line["ready"] and line["state"] != "SUCCESS" for line in lines)
