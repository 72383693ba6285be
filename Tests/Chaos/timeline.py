"""One task's life in a kept soak run, on one clock, for diagnosing a violation.

    .venv/bin/python Tests/Chaos/timeline.py DIR TASK_ID [--window S]

DIR is a directory `Tests/Chaos/run --keep` left. Merges, in seconds from the
start of publishing: the task's published steps (published.tsv), the
pmessages of it the proxy handed to the --all watcher (deliveries.tsv, with
whether they may have been unread), the lines each watcher printed for it,
and, within --window seconds (default 3) of the task's life, the faults
injected (faults.tsv) and each watcher's stderr (lost links, reconnects).
"""

import argparse
import json
import os


def _status(payload):
    try:
        return json.loads(payload)["status"]
    except (ValueError, KeyError, TypeError):
        return "?"


def _rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f]


def timeline(directory, task_id, window):
    """[(time, source, text)] sorted by time."""
    events = []
    published = [row.split("\t", 2) for row in _rows(os.path.join(directory, "published.tsv"))]
    steps = [(float(at), payload) for at, task, payload in published if task == task_id]
    numbers = {payload: number for number, (_, payload) in enumerate(steps)}
    for number, (at, payload) in enumerate(steps):
        events.append((at, "published", "%s#%d" % (_status(payload), number)))
    for row in _rows(os.path.join(directory, "deliveries.tsv")):
        at, task, maybe_unread, payload = row.split("\t", 3)
        if task == task_id:
            events.append((float(at), "delivered", "%s#%s%s" % (
                _status(payload), numbers.get(payload, "?"), " (maybe unread)" if maybe_unread == "1" else "")))
    for name in ("ids", "all"):
        for row in _rows(os.path.join(directory, "%s.stdout" % name)):
            at, text = row.split(" ", 1)
            if task_id not in text:
                continue
            line = json.loads(text)
            if line.get("task_id") != task_id:
                continue
            number = numbers.get(json.dumps(line["meta"])) if line.get("meta") is not None else None
            if number is None and line.get("meta") is not None:
                canonical = json.dumps(line["meta"], sort_keys=True)
                number = next((n for p, n in numbers.items()
                               if json.dumps(json.loads(p), sort_keys=True) == canonical), "?")
            events.append((float(at), "%s printed" % name, "%s#%s (%s, previous %s)" % (
                line["state"], number, line["source"], line["previous"])))
    if steps:
        start, end = steps[0][0] - window, steps[-1][0] + window
        for row in _rows(os.path.join(directory, "faults.tsv")):
            at, kind, parameters = row.split("\t", 2)
            if start <= float(at) <= end:
                events.append((float(at), "fault", "%s %s" % (kind, parameters)))
        for name in ("ids", "all"):
            for row in _rows(os.path.join(directory, "%s.stderr" % name)):
                at, text = row.split(" ", 1)
                if start <= float(at) <= end:
                    events.append((float(at), "%s stderr" % name, text))
    return sorted(events, key=lambda event: event[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("task_id")
    parser.add_argument("--window", type=float, default=3.0, help="seconds of faults and stderr around the life")
    args = parser.parse_args()
    for at, source, text in timeline(args.directory, args.task_id, args.window):
        print("%9.3f  %-14s %s" % (at, source, text))


if __name__ == "__main__":
    main()
