"""Run one throughput scenario against one taskwatch command, for profiling.

    Benchmarks/.venv/bin/python Benchmarks/profile.py --tasks 100000 --updates 1 \\
        -- valgrind --tool=callgrind --callgrind-out-file=cg.out .build-static/release/taskwatch

Starts a private redis-server (free loopback port, never 6379), builds the
same Celery payloads and MULTI/SETEX/PUBLISH/EXEC stream as bench.py, spawns
the command with `--url redis://127.0.0.1:PORT/0 -` appended and the ids on
stdin, waits until every channel is subscribed (CLIENT LIST sub=), publishes
the stream and waits for the command to exit. There are no caps meant for
timing: the deadlines are long enough for a run under valgrind, so a profile
of the whole run (start-up, subscribe, snapshot, stream, exit) comes out. It
prints the subscribe and wall times and checks stdout as bench.py does.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the harness's server, payloads and publisher)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--tasks', type=int, default=100_000)
    ap.add_argument('--updates', type=int, default=1)
    ap.add_argument('--deadline', type=float, default=1800, help='seconds before the command is killed')
    ap.add_argument('--during-snapshot', action='store_true',
                    help='publish as soon as every channel is subscribed, as bench.py does, '
                         'instead of once every snapshot line is out')
    ap.add_argument('--stdout', help='keep the command\'s stdout in this file')
    ap.add_argument('--no-check', action='store_true',
                    help='do not check stdout (heaptrack prints its own lines there)')
    ap.add_argument('command', nargs='+', help='the taskwatch command (after --)')
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix='taskwatch-bench-')
    server = bench.RedisServer(workdir)
    proc = None
    try:
        server.start()
        monitor = bench.Monitor(server.port)
        payloads = bench.CeleryPayloads(f'redis://127.0.0.1:{server.port}/0')
        ids = bench.make_ids(args.tasks, seed=args.tasks)
        stream = bench.build_stream(payloads, ids, args.updates, 500)
        ids_file = Path(workdir) / 'ids'
        ids_file.write_text('\n'.join(ids) + '\n')
        out_path = args.stdout or str(Path(workdir) / 'stdout')
        argv = args.command + ['--url', f'redis://127.0.0.1:{server.port}/0', '-']
        with open(ids_file, 'rb') as stdin, open(out_path, 'wb') as stdout:
            proc = bench.Process(argv, stdin, stdout, None)
        deadline = proc.t_spawn + args.deadline
        step = 0.005
        while monitor.pubsub_subscriptions()[0] < len(ids):
            if proc.exited() or time.monotonic() > deadline:
                raise bench.BenchError('not subscribed (exited or past the deadline)')
            time.sleep(step)
        subscribed = time.monotonic() - proc.t_spawn
        if not args.during_snapshot:
            # Under valgrind the snapshot MGET would otherwise run after the
            # stream and see every result stored: wait for its lines.
            while Path(out_path).read_bytes().count(b"\n") < len(ids):
                if proc.exited() or time.monotonic() > deadline:
                    raise bench.BenchError('no snapshot line per task (exited or past the deadline)')
                time.sleep(step)
        pub = bench.Publisher(server.port)
        pub.TIMEOUT = args.deadline
        t0 = time.monotonic()
        for first, last, data in stream.batches:
            pub.send(data)
            while pub.acked < last - 2000:
                pub.read_acks()
        pub.wait_acked(stream.n_msgs, deadline)
        published = time.monotonic() - t0
        status = proc.reap(max(1.0, deadline - time.monotonic()))
        wall = time.monotonic() - t0
        pub.close()
        lines = Path(out_path).read_bytes().splitlines()
        problems = []
        if not args.no_check:
            last = {}
            for line in lines:
                obj = json.loads(line)      # every line must be JSON
                if obj.get('type') == 'state':
                    last[obj['task_id']] = obj['state']
            ok = sum(1 for s in last.values() if s == 'SUCCESS')
            if ok != len(ids):
                problems.append(f'{ok} of {len(ids)} tasks ended SUCCESS')
        print(f'subscribed {subscribed:.3f} s, published {published:.3f} s, exit {wall:.3f} s '
              f'after the first PUBLISH, status {status}, {len(lines)} lines'
              + ('; ' + '; '.join(problems) if problems else ''))
        return 0 if status == 0 and not problems else 1
    finally:
        if proc is not None:
            proc.close()
        server.stop()
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
