"""Redis Cluster against one Redis: taskwatch's S3 and S4 (see README.md) on a
private 3-master cluster (one replica each) and on a private single
redis-server, in the same run, with the same ids and the same Celery payloads.
Run it through `Benchmarks/run --cluster`.

For each repetition both targets run in turn (rotated order). taskwatch gets
the ids on stdin; once every id is subscribed (the sum of `sub=` over the pub/sub
clients of every node) the stream starts: one MULTI/SETEX/PUBLISH/EXEC per
message, as Celery's backend sends it, written to the master that owns the
key (on the single server: all to it). Wall time runs from the first message
to taskwatch's exit (every task ready); subscribe time from taskwatch's start
to its last channel subscribed. The figure is the ratio of the medians,
cluster over single.

The publisher alone is slower on the cluster (every PUBLISH also crosses the
cluster bus to five nodes, and six servers share the cores), so an unpaced
wall time measures the publisher as much as taskwatch. Each repetition
therefore also runs both targets at one common pace (`--pace`, by default
half the slower target's publisher-alone rate, the slowest of two passes
per target before the repetitions: at 90 % the cluster's publisher fell behind once taskwatch
took its share of the two cores), the same messages per second on both; the
target ratio is that paced one. taskwatch's
own CPU time (user + system, from its rusage) is reported beside it.
"""
import argparse
import os
import re
import resource
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench
from bench import BenchError, log

SCENARIOS = {
    'S3': dict(tasks=10_000, updates=3, seed=3, title='10,000 tasks × 3 updates'),
    'S4': dict(tasks=100_000, updates=1, seed=4, title='100,000 tasks × 1 update'),
}
SERVER_ARGS = ['--save', '', '--appendonly', 'no', '--daemonize', 'no', '--maxclients', '1000',
               '--client-output-buffer-limit', 'pubsub 0 0 0', '--client-output-buffer-limit', 'normal 0 0 0']


def _crc_table():
    table = []
    for value in range(256):
        crc = value << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


CRC_TABLE = _crc_table()


def crc16(data):
    """CRC16-XMODEM, as Redis Cluster hashes keys."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ CRC_TABLE[(crc >> 8) ^ byte]
    return crc


def key_slot(key):
    start = key.find(b'{')
    if start >= 0:
        end = key.find(b'}', start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key) % 16384


def free_cluster_port():
    """A free loopback port whose cluster bus port (+10,000) is free too."""
    while True:
        port = bench.free_port()
        if port + 10000 > 65535 or 6379 in (port, port + 10000):
            continue
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port + 10000))
            except OSError:
                continue
        return port


class Node:
    def __init__(self, workdir, port, cluster):
        self.port = port
        self.dir = Path(workdir) / f'node-{port}'
        self.dir.mkdir()
        argv = ['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--dir', str(self.dir),
                '--logfile', 'redis.log'] + SERVER_ARGS
        if cluster:
            argv += ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
                     '--cluster-node-timeout', '5000']
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        import redis
        self.r = redis.Redis(host='127.0.0.1', port=port, socket_timeout=30)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.r.ping():
                    return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise BenchError(f'redis-server on {port} did not start (see {self.dir})')
                time.sleep(0.02)

    def subscriptions(self):
        text = self.r.execute_command('CLIENT LIST TYPE pubsub')
        text = text.decode() if isinstance(text, bytes) else text
        return sum(int(m) for m in re.findall(r'\bsub=(\d+)', text)), text.count('\n')

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Target:
    """One backend: its nodes, the masters by slot, the URL taskwatch gets."""

    def __init__(self, name, nodes, url):
        self.name, self.nodes, self.url = name, nodes, url
        self.owner = [nodes[0]] * 16384
        self.masters = [nodes[0]]

    def read_map(self):
        by_port = {n.port: n for n in self.nodes}
        self.masters = []
        for start, end, master, *_ in self.nodes[0].r.execute_command('CLUSTER SLOTS'):
            node = by_port[int(master[1])]
            if node not in self.masters:
                self.masters.append(node)
            for slot in range(start, end + 1):
                self.owner[slot] = node

    def flush(self):
        for node in self.masters:
            node.r.flushall(asynchronous=False)

    def subscriptions(self):
        subs, clients = 0, 0
        for node in self.nodes:
            s, c = node.subscriptions()
            subs, clients = subs + s, clients + c
        return subs, clients


def start_cluster(workdir, pids, started):
    """Starts six nodes (each also appended to `started` as it starts, so the
    caller stops them even when this fails) and makes them a cluster."""
    nodes = []
    for _ in range(6):
        nodes.append(Node(workdir, free_cluster_port(), cluster=True))
        started.append(nodes[-1])
        pids.write(f'{nodes[-1].proc.pid} {nodes[-1].port}\n')
        pids.flush()
    subprocess.run(['redis-cli', '--cluster', 'create'] + [f'127.0.0.1:{n.port}' for n in nodes]
                   + ['--cluster-replicas', '1', '--cluster-yes'], check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    # redis-py parses CLUSTER INFO into a dict.
    while not all(n.r.execute_command('CLUSTER INFO').get('cluster_state') == 'ok' for n in nodes):
        if time.monotonic() > deadline:
            raise BenchError('the cluster did not become healthy within 60 s')
        time.sleep(0.1)
    url = 'redis+cluster://' + ','.join(f'127.0.0.1:{n.port}' for n in nodes[:3])
    target = Target('cluster', nodes, url)
    target.read_map()
    if len(target.masters) != 3:
        raise BenchError(f'expected 3 masters, got {len(target.masters)}')
    return target


def lanes_of(target, stream):
    """The stream's messages per master port, in stream order (computed
    before the clock starts: the slots are hashed in Python)."""
    lanes = {}
    for key, packed in zip(stream.keys, stream.packed):
        lanes.setdefault(target.owner[key_slot(key)].port, []).append(packed)
    return lanes


def publish(lanes, window, rate=None):
    """Writes every message to its key's master (`lanes`), keeping at most
    `window` messages unanswered per master and, with `rate`, sending no
    more than `rate` messages per second in all (each master its share);
    returns once every EXEC is answered. Waits in select() when no master
    may take more: spinning on non-blocking reads took a core from the
    servers and taskwatch."""
    publishers = {port: bench.Publisher(port) for port in lanes}
    sent = {port: 0 for port in lanes}
    total = sum(len(m) for m in lanes.values())
    deadline = time.monotonic() + 600
    started = time.monotonic()
    try:
        while any(sent[p] < len(lanes[p]) for p in lanes):
            progressed, wake = False, None
            for port, messages in lanes.items():
                publisher = publishers[port]
                while publisher.read_acks(block=False):
                    pass
                if sent[port] >= len(messages) or sent[port] - publisher.acked >= window:
                    continue
                last = min(sent[port] + 500, len(messages))
                if rate:
                    # When this lane may have sent `last` messages at its share of the rate.
                    due = started + last * total / (len(messages) * rate)
                    if due > time.monotonic():
                        wake = due if wake is None else min(wake, due)
                        continue
                publisher.send(b''.join(messages[sent[port]:last]))
                sent[port] = last
                progressed = True
            if not progressed:
                timeout = 0.05 if wake is None else max(0.0, wake - time.monotonic())
                select.select(list(publishers.values()), [], [], timeout)
        for port, messages in lanes.items():
            publishers[port].wait_acked(len(messages), deadline)
    finally:
        for publisher in publishers.values():
            publisher.close()


def run_once(target, taskwatch, ids, lanes, window, workdir, rate=None):
    target.flush()
    out = Path(workdir) / f'out-{target.name}.ndjson'
    started = time.monotonic()
    with open(out, 'wb') as stdout:
        proc = subprocess.Popen([taskwatch, '-u', target.url, '-t', '300s', '-'], stdin=subprocess.PIPE,
                                stdout=stdout, stderr=subprocess.PIPE)
        proc.stdin.write(('\n'.join(ids) + '\n').encode())
        proc.stdin.close()
        while target.subscriptions()[0] < len(ids):
            if proc.poll() is not None:
                raise BenchError(f'taskwatch exited early: {proc.stderr.read().decode()}')
            if time.monotonic() - started > 120:
                raise BenchError('taskwatch did not subscribe within 120 s')
            time.sleep(0.005)
        subscribed = time.monotonic()
        publish(lanes, window, rate)
        published = time.monotonic()
        # RUSAGE_CHILDREN counts waited-for children only: the servers run on.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        status = proc.wait(300)
        ended = time.monotonic()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stderr = proc.stderr.read().decode()
    if status != 0:
        raise BenchError(f'taskwatch on {target.name} exited {status}: {stderr}')
    ready = sum(1 for line in open(out, 'rb') if b'"ready":true' in line)
    if ready != len(ids):
        raise BenchError(f'taskwatch on {target.name} reported {ready} ready tasks of {len(ids)}')
    deadline = time.monotonic() + 10
    while target.subscriptions()[1] and time.monotonic() < deadline:
        time.sleep(0.01)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dict(wall=ended - subscribed, subscribe=subscribed - started, publish=published - subscribed,
                lag=ended - published, cpu=cpu, stderr=stderr.strip())


def publish_alone(target, lanes, window):
    """The stream with no subscriber: the target's own floor."""
    target.flush()
    started = time.monotonic()
    publish(lanes, window)
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--taskwatch', required=True)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--quick', action='store_true', help='one repetition')
    ap.add_argument('--scenarios', default='S3,S4')
    ap.add_argument('--window', type=int, default=2000)
    ap.add_argument('--pace', type=float, default=0.5,
                    help="the common pace, as a fraction of the slower target's publisher-alone rate")
    ap.add_argument('--pidfile', help='where to record the servers\' PIDs (for the caller\'s trap)')
    args, _ = ap.parse_known_args()
    reps = 1 if args.quick else args.reps
    workdir = tempfile.mkdtemp(prefix='taskwatch-bench-cluster-')
    pidfile = open(args.pidfile or os.devnull, 'w')
    single = Node(workdir, bench.free_port(), cluster=False)
    pidfile.write(f'{single.proc.pid} {single.port}\n')
    pidfile.flush()
    targets = [Target('single', [single], f'redis://127.0.0.1:{single.port}/0')]
    started = [single]
    try:
        targets.append(start_cluster(workdir, pidfile, started))
        payloads = bench.CeleryPayloads(targets[0].url)
        print(f'taskwatch: {args.taskwatch}; {os.cpu_count()} cores; reps {reps}')
        for name in [s.strip() for s in args.scenarios.split(',') if s.strip()]:
            spec = SCENARIOS[name]
            ids = bench.make_ids(spec['tasks'], spec['seed'])
            stream = bench.build_stream(payloads, ids, spec['updates'], 500)
            runs = {t.name: [] for t in targets}
            paced = {t.name: [] for t in targets}
            lanes = {t.name: lanes_of(t, stream) for t in targets}
            floors = {t.name: [] for t in targets}
            # The common pace: a fraction of the slower publisher alone, from one pass each.
            slowest = max(publish_alone(t, lanes[t.name], args.window) for t in targets for _ in range(2))
            rate = args.pace * stream.n_msgs / slowest
            log(f'{name}: common pace {rate:,.0f} messages/s')
            for rep in range(reps):
                for target in (targets if rep % 2 == 0 else targets[::-1]):
                    floors[target.name].append(publish_alone(target, lanes[target.name], args.window))
                    run = run_once(target, args.taskwatch, ids, lanes[target.name], args.window, workdir)
                    runs[target.name].append(run)
                    pace = run_once(target, args.taskwatch, ids, lanes[target.name], args.window, workdir, rate)
                    paced[target.name].append(pace)
                    log(f'{name} rep {rep + 1} {target.name}: wall {run["wall"]:.3f} s, '
                        f'publish {run["publish"]:.3f} s, lag after the last ack {run["lag"]:.3f} s, '
                        f'taskwatch CPU {run["cpu"]:.3f} s, '
                        f'publisher alone {floors[target.name][-1]:.3f} s, subscribe {run["subscribe"]:.3f} s; '
                        f'paced: wall {pace["wall"]:.3f} s, lag {pace["lag"]:.3f} s, CPU {pace["cpu"]:.3f} s'
                        + (f'; stderr: {run["stderr"]}' if run['stderr'] else ''))

            def median(of, key):
                return {t: statistics.median(r[key] for r in rs) for t, rs in of.items()}
            walls, subs, lags, cpus = (median(runs, k) for k in ('wall', 'subscribe', 'lag', 'cpu'))
            paced_walls, paced_lags, paced_cpus = median(paced, 'wall'), median(paced, 'lag'), median(paced, 'cpu')
            paced_publish = median(paced, 'publish')
            alone = {t: statistics.median(f) for t, f in floors.items()}
            ratio = paced_walls['cluster'] / paced_walls['single']
            # A publisher more than 10 % behind the pace measured the servers, not taskwatch.
            held = {t: paced_publish[t] <= 1.1 * stream.n_msgs / rate for t in paced_publish}
            pace_note = '' if all(held.values()) else (
                '; PACE NOT HELD by ' + ', '.join(t for t, ok in held.items() if not ok)
                + ' (its publisher fell behind: the ratio measures the servers)')
            print(f'{name} ({spec["title"]}, {stream.n_msgs:,} messages; medians of {reps}):\n'
                  f'  wall at one pace ({rate:,.0f} messages/s on both): single {paced_walls["single"]:.3f} s, '
                  f'cluster {paced_walls["cluster"]:.3f} s; ratio {ratio:.2f}× '
                  f'(target ≤ 1.5×: {"met" if ratio <= 1.5 else "NOT met"}{pace_note}); lag after the last EXEC: '
                  f'single {paced_lags["single"]:.3f} s, cluster {paced_lags["cluster"]:.3f} s; publishing took '
                  f'single {paced_publish["single"]:.3f} s, cluster {paced_publish["cluster"]:.3f} s '
                  f'(the pace: {stream.n_msgs / rate:.3f} s); taskwatch CPU single {paced_cpus["single"]:.3f} s, '
                  f'cluster {paced_cpus["cluster"]:.3f} s\n'
                  f'  wall unpaced (first message → exit): single {walls["single"]:.3f} s, '
                  f'cluster {walls["cluster"]:.3f} s; ratio {walls["cluster"] / walls["single"]:.2f}×\n'
                  f'  publisher alone (no subscriber): single {alone["single"]:.3f} s, cluster {alone["cluster"]:.3f} s; '
                  f'ratio {alone["cluster"] / alone["single"]:.2f}×\n'
                  f'  taskwatch CPU (user + system, whole run, unpaced): single {cpus["single"]:.3f} s, '
                  f'cluster {cpus["cluster"]:.3f} s; ratio {cpus["cluster"] / cpus["single"]:.2f}×\n'
                  f'  taskwatch lag after the last EXEC answered (unpaced): single {lags["single"]:.3f} s, '
                  f'cluster {lags["cluster"]:.3f} s\n'
                  f'  subscribe: single {subs["single"]:.3f} s, cluster {subs["cluster"]:.3f} s')
            sys.stdout.flush()
    finally:
        for node in started:
            node.stop()
        pidfile.close()
        if args.pidfile:
            os.unlink(args.pidfile)
        subprocess.run(['rm', '-rf', workdir])


if __name__ == '__main__':
    try:
        main()
    except BenchError as e:
        log(f'error: {e}')
        sys.exit(1)
