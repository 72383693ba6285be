"""Celery-side peers of the taskwatch benchmark, run as their own processes.

    python celery_peer.py join_native URL IDS_FILE READY_FILE TIMEOUT_S
    python celery_peer.py poll        URL IDS_FILE READY_FILE TIMEOUT_S [INTERVAL_S]

join_native: Celery's own consumer, exactly as the issue names it:
    ResultSet([AsyncResult(i) for i in ids]).join_native()
with the redis result backend. Building the ResultSet subscribes every task's
channel (vine's barrier calls AsyncResult.then -> add_pending_result ->
ResultConsumer.consume_from, one SUBSCRIBE per task); join_native then MGETs
the stored metas once and drains pub/sub until every task is ready.

poll: the loop users write when they do not know about join_native --
ask AsyncResult(i).state for every task that is not ready yet (one GET each),
sleep INTERVAL_S (default 0.1) between passes that leave tasks pending.

Both print "done <N> <CLOCK_MONOTONIC ns>" when they have every result, so the
harness can tell the consume time from interpreter teardown; they exit 0, or
124 when TIMEOUT_S passed. READY_FILE is created once the peer is about to
wait (the poll peer has no subscription the harness could observe).
"""
import sys
import time


def main(argv):
    mode, url, ids_path, ready_path, timeout_s = argv[1:6]
    timeout_s = float(timeout_s)
    interval = float(argv[6]) if len(argv) > 6 else 0.1

    from celery import Celery, states
    from celery.exceptions import TimeoutError as CeleryTimeout
    from celery.result import AsyncResult, ResultSet

    app = Celery('taskwatch-bench-peer', backend=url)
    app.set_current()
    app.set_default()

    with open(ids_path) as f:
        ids = f.read().split()

    if mode == 'join_native':
        results = ResultSet([AsyncResult(i) for i in ids])
        open(ready_path, 'w').close()
        try:
            values = results.join_native(timeout=timeout_s)
        except CeleryTimeout:
            print('timeout', flush=True)
            return 124
        n = len(values)
    elif mode == 'poll':
        deadline = time.monotonic() + timeout_s
        open(ready_path, 'w').close()
        pending = ids
        while pending:
            pending = [i for i in pending
                       if AsyncResult(i).state not in states.READY_STATES]
            if pending:
                if time.monotonic() > deadline:
                    print('timeout', flush=True)
                    return 124
                time.sleep(interval)
        n = len(ids)
    else:
        print(f'celery_peer: unknown mode {mode!r}', file=sys.stderr)
        return 2
    print(f'done {n} {time.monotonic_ns()}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
