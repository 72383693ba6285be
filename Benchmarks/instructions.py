"""Instructions per message, side by side, on one recorded stream (callgrind).

    Benchmarks/.venv/bin/python Benchmarks/instructions.py --taskwatch PATH \\
        --hiredis-consumer Benchmarks/.build/hiredis_consumer [--tasks 100000]

Run by `Benchmarks/run --instructions`. Every peer runs under
`valgrind --tool=callgrind` twice on the same private redis-server (free
loopback port, never 6379): once with 1 update per task (S4's stream:
SUCCESS) and once with 3 (STARTED, PROGRESS, SUCCESS), the same ids and
Celery payloads as bench.py. Everything but the 2 × tasks extra messages is
the same in both runs (start-up, subscribing, snapshot, the SUCCESS messages,
exit), so

    instructions per message = (total(3 updates) − total(1 update)) / (2 × tasks)

counts what one non-final message costs, and nothing else. The peers:

- taskwatch, ids mode: the ids on stdin, NDJSON to a file (checked as in
  bench.py); the stream starts once every snapshot line is out.
- taskwatch --all --count N: PSUBSCRIBE of the key prefix, NDJSON to a file.
- redis-cli SUBSCRIBE: one `SUBSCRIBE ch1 … chN` line on its stdin (see
  README "redis-cli at 100k channels"), stdout to /dev/null. It never exits
  by itself: once the server holds no output for it and its CPU time has
  stood still for 1 s, it gets SIGTERM (callgrind writes its counts then).
- hiredis_consumer (hiredis_consumer.c): hiredis's reader and an fwrite of
  each payload, stdout to /dev/null; exits after the last message.

Instruction counts repeat exactly on one machine, so one run of each is
enough; timing does not enter.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the harness's server, payloads and publisher)

DEADLINE = 1800.0


def callgrind_total(path):
    """The `summary:` (total Ir) of a callgrind output file."""
    for line in Path(path).read_text().splitlines():
        if line.startswith('summary:') or line.startswith('totals:'):
            return int(line.split()[1])
    raise bench.BenchError(f'no total in {path}')


def cpu_ticks(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def client_output_pending(monitor):
    """Bytes the server still holds for its pub/sub clients (omem)."""
    text = monitor.r.execute_command('CLIENT LIST TYPE pubsub')
    if isinstance(text, bytes):
        text = text.decode()
    return sum(int(m) for m in re.findall(r'\bomem=(\d+)', text))


def psubscriptions(monitor):
    text = monitor.r.execute_command('CLIENT LIST TYPE pubsub')
    if isinstance(text, bytes):
        text = text.decode()
    return sum(int(m) for m in re.findall(r'\bpsub=(\d+)', text))


def run_peer(peer, updates, args, server, monitor, payloads, ids, workdir):
    """One callgrind run of a peer over a stream of `updates` per task; the total Ir."""
    stream = bench.build_stream(payloads, ids, updates, 500)
    server_url = f'redis://127.0.0.1:{server.port}/0'
    out_file = Path(workdir) / f'{peer}-{updates}.out'
    cg_file = Path(workdir) / f'{peer}-{updates}.callgrind'
    channels = Path(workdir) / 'channels'
    valgrind = ['valgrind', '--tool=callgrind', f'--callgrind-out-file={cg_file}']
    monitor.r.flushdb()
    monitor.wait_no_pubsub(60)
    stdin = subprocess.DEVNULL
    stdout_path = out_file
    if peer == 'taskwatch':
        argv = valgrind + [args.taskwatch, '--url', server_url, '-']
        stdin = open(Path(workdir) / 'ids', 'rb')
    elif peer == 'taskwatch --all':
        argv = valgrind + [args.taskwatch, '--all', '--count', str(len(ids)), '--url', server_url]
    elif peer == 'redis-cli':
        argv = valgrind + [args.redis_cli, '-h', '127.0.0.1', '-p', str(server.port)]
        stdin = subprocess.PIPE
        stdout_path = None
    else:
        argv = valgrind + [args.hiredis_consumer, '--port', str(server.port), '--channels', str(channels),
                           '--messages', str(stream.n_msgs)]
        stdout_path = None
    stdout = open(stdout_path, 'wb') if stdout_path else subprocess.DEVNULL
    proc = bench.Process(argv, stdin, stdout, subprocess.DEVNULL)
    if args.pidfile:
        # For run's trap, if this script dies: the group to kill (its command
        # line names the scratch directory, so a recycled PID is never killed).
        Path(args.pidfile + '.peer').write_text(f'{proc.proc.pid}\n')
    try:
        if stdin is subprocess.PIPE:
            # Kept open: at EOF redis-cli would leave its pub/sub loop.
            proc.proc.stdin.write(b'SUBSCRIBE ' + ' '.join(bench.KEY_PREFIX + i for i in ids).encode() + b'\n')
            proc.proc.stdin.flush()
        deadline = proc.t_spawn + DEADLINE
        while (psubscriptions(monitor) < 1 if peer == 'taskwatch --all'
               else monitor.pubsub_subscriptions()[0] < len(ids)):
            if proc.exited() or time.monotonic() > deadline:
                raise bench.BenchError(f'{peer}: not subscribed (exited or past the deadline)')
            time.sleep(0.05)
        if peer == 'taskwatch':
            # The snapshot first (under valgrind it would otherwise read the stream's keys).
            while out_file.read_bytes().count(b'\n') < len(ids):
                if proc.exited() or time.monotonic() > deadline:
                    raise bench.BenchError(f'{peer}: no snapshot line per task')
                time.sleep(0.05)
        pub = bench.Publisher(server.port)
        pub.TIMEOUT = DEADLINE
        for first, last, data in stream.batches:
            pub.send(data)
            while pub.acked < last - 2000:
                pub.read_acks()
        pub.wait_acked(stream.n_msgs, deadline)
        pub.close()
        if peer == 'redis-cli':
            # Drained: nothing held for it by the server, and its CPU still for 1 s.
            ticks, still_since = cpu_ticks(proc.proc.pid), time.monotonic()
            while time.monotonic() - still_since < 1.0:
                if time.monotonic() > deadline:
                    raise bench.BenchError('redis-cli: still busy at the deadline')
                time.sleep(0.1)
                now_ticks = cpu_ticks(proc.proc.pid)
                if now_ticks != ticks or client_output_pending(monitor) > 0:
                    ticks, still_since = now_ticks, time.monotonic()
            proc.proc.send_signal(signal.SIGTERM)
        status = proc.reap(max(1.0, deadline - time.monotonic()))
        if peer != 'redis-cli' and status != 0:
            raise bench.BenchError(f'{peer}: exit status {status}')
        if peer.startswith('taskwatch'):
            last = {}
            for line in out_file.read_bytes().splitlines():
                obj = json.loads(line)  # every line must be JSON
                if obj.get('type') == 'state':
                    last[obj['task_id']] = obj['state']
            ok = sum(1 for state in last.values() if state == 'SUCCESS')
            if ok != len(ids):
                raise bench.BenchError(f'{peer}: {ok} of {len(ids)} tasks ended SUCCESS')
        return callgrind_total(cg_file)
    finally:
        proc.close()
        if stdout is not subprocess.DEVNULL:
            stdout.close()
        if hasattr(stdin, 'close'):
            stdin.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--tasks', type=int, default=100_000)
    ap.add_argument('--taskwatch', help='the taskwatch binary (without debug info: valgrind 3.19 '
                    'cannot read its DWARF 5, see README "Profiling one scenario")')
    ap.add_argument('--hiredis-consumer', required=True)
    ap.add_argument('--redis-cli', default='redis-cli')
    ap.add_argument('--pidfile', help='write "PID PORT DIR" of the redis-server here (for run\'s trap)')
    args = ap.parse_args()

    peers = (['taskwatch', 'taskwatch --all'] if args.taskwatch else []) + ['redis-cli', 'hiredis_consumer']
    workdir = tempfile.mkdtemp(prefix='taskwatch-bench-')
    server = bench.RedisServer(workdir, pidfile=args.pidfile)
    try:
        server.start()
        monitor = bench.Monitor(server.port)
        payloads = bench.CeleryPayloads(f'redis://127.0.0.1:{server.port}/0')
        ids = bench.make_ids(args.tasks, seed=args.tasks)
        (Path(workdir) / 'ids').write_text('\n'.join(ids) + '\n')
        (Path(workdir) / 'channels').write_text('\n'.join(bench.KEY_PREFIX + i for i in ids) + '\n')
        per_message = {}
        for peer in peers:
            totals = {}
            for updates in (1, 3):
                print(f'instructions: {peer}, {args.tasks} tasks × {updates} under callgrind …',
                      file=sys.stderr, flush=True)
                totals[updates] = run_peer(peer, updates, args, server, monitor, payloads, ids, workdir)
            per_message[peer] = (totals[3] - totals[1]) / (2 * args.tasks)
            print(f'instructions: {peer}: {totals[1]:,} / {totals[3]:,} Ir → {per_message[peer]:,.0f} a message',
                  file=sys.stderr, flush=True)
        base = per_message.get('taskwatch')
        print(f'## Instructions per message ({args.tasks:,} tasks, callgrind)\n')
        print('(total(3 updates) − total(1 update)) / (2 × tasks): STARTED and PROGRESS messages, '
              'the same stream for every peer.\n')
        print('| peer | instructions per message | × redis-cli | × taskwatch (ids) |')
        print('|---|---|---|---|')
        cli = per_message['redis-cli']
        for peer in peers:
            value = per_message[peer]
            versus = f'{value / base:.2f}' if base else 'n/a'
            print(f'| {peer} | {value:,.0f} | {value / cli:.2f} | {versus} |')
        if base:
            print(f'\nTargets (issue 16): taskwatch ≤ redis-cli: {base / cli:.2f}× '
                  f'({"met" if base <= cli else "missed"}); --all ≤ 1.2× ids mode: '
                  f'{per_message["taskwatch --all"] / base:.2f}× '
                  f'({"met" if per_message["taskwatch --all"] <= 1.2 * base else "missed"})')
        return 0
    finally:
        server.stop()
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
