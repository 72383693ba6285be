"""Two scenarios of bench.py that measure taskwatch's own costs beside
redis-cli's, on the same private redis-server (see README.md):

ST  start-up: spawn -> the first SUBSCRIBE reaches Redis, one id, taskwatch
    against `redis-cli SUBSCRIBE <channel>`; the moment is the server's own
    timestamp of the command, read from a MONITOR connection, so the harness
    sleeps in select() while the peer starts instead of polling it.
S5  1,000,000 ids: spawn -> every channel subscribed -> every snapshot line
    printed (taskwatch) or every confirmation read (redis-cli), the memory
    kept per task once there, then one SUCCESS message per task and the peak.
"""
import os
import re
import selectors
import socket
import subprocess
import time
from dataclasses import dataclass

import bench as b


# --------------------------------------------------------------------------
# ST: start-up

@dataclass
class StartupRun:
    peer: str
    rep: int
    ok: bool = False
    error: str = ''
    subscribe_ms: float = None     # spawn -> SUBSCRIBE as MONITOR timestamps it


class MonitorStream:
    """A MONITOR connection: the server's timestamp of every command."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.sock.sendall(b'MONITOR\r\n')
        self.buf = b''
        if self.line(time.monotonic() + 10) != b'+OK':
            raise b.BenchError('MONITOR refused')

    def line(self, deadline):
        while b'\r\n' not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise b.BenchError('MONITOR connection closed')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def wait_for(self, command, argument, deadline):
        """The server's wall-clock time of the first `command argument`."""
        pattern = re.compile(rb'^\+(\d+\.\d+) \[[^\]]*\] "' + re.escape(command) + rb'" "' + re.escape(argument) + rb'"',
                             re.I)
        while True:
            line = self.line(deadline)
            if line is None:
                return None
            m = pattern.match(line)
            if m:
                return float(m.group(1))

    def close(self):
        self.sock.close()


def run_startup(bench, names, reps):
    """spawn -> first SUBSCRIBE for one id, the peers alternating."""
    task_id = b.make_ids(1, seed=7)[0]
    channel = b.KEY_PREFIX + task_id
    ids_file = bench.dir / 'ST.ids'
    ids_file.write_text(task_id + '\n')
    argv = {'redis-cli': ['redis-cli', '-p', str(bench.server.port), 'SUBSCRIBE', channel]}
    if 'taskwatch' in names and bench.args.taskwatch:
        argv['taskwatch'] = ([bench.args.taskwatch, '--url', bench.url] + list(bench.args.taskwatch_arg)
                             + ['--timeout', '30s', '-'])
    runs = []
    for rep in range(reps):
        for name in b.peer_order(sorted(argv), rep):
            run = StartupRun(name, rep)
            bench.prepare()
            monitor = MonitorStream(bench.server.port)
            try:
                with open(ids_file, 'rb') as stdin:
                    t_spawn = time.time()
                    proc = b.Process(argv[name], stdin, subprocess.DEVNULL, subprocess.DEVNULL)
                try:
                    seen = monitor.wait_for(b'SUBSCRIBE', channel.encode(), time.monotonic() + 10)
                    if seen is None:
                        run.error = 'no SUBSCRIBE within 10 s'
                    else:
                        run.subscribe_ms = (seen - t_spawn) * 1e3
                        run.ok = True
                finally:
                    proc.close()
            finally:
                monitor.close()
            runs.append(run)
    return runs


def summarize_startup(runs):
    lines = ['### ST — start-up: spawn → first SUBSCRIBE, one id (ms, MONITOR timestamps)', '',
             '| peer | p50 | p90 | min | max | × redis-cli (p50) | runs ok |', '|---|---|---|---|---|---|---|']
    by_peer = {}
    for r in runs:
        by_peer.setdefault(r.peer, []).append(r)
    cli = [r.subscribe_ms for r in by_peer.get('redis-cli', []) if r.ok]
    cli50 = b.percentile(cli, 50) if cli else None
    for name, label in (('redis-cli', 'redis-cli SUBSCRIBE'), ('taskwatch', 'taskwatch')):
        rs = by_peer.get(name)
        if not rs:
            continue
        v = [r.subscribe_ms for r in rs if r.ok]
        p50 = b.percentile(v, 50) if v else None
        ratio = b.fmt(p50 / cli50, 2) if p50 and cli50 else '—'
        lines.append(f'| {label} | {b.fmt(p50, 2)} | {b.fmt(b.percentile(v, 90) if v else None, 2)} | '
                     f'{b.fmt(min(v) if v else None, 2)} | {b.fmt(max(v) if v else None, 2)} | {ratio} | '
                     f'{len(v)}/{len(rs)} |')
    return '\n'.join(lines)


def startup_target(runs):
    tw = [r.subscribe_ms for r in runs if r.peer == 'taskwatch' and r.ok]
    cli = [r.subscribe_ms for r in runs if r.peer == 'redis-cli' and r.ok]
    if not tw or not cli:
        return None
    t50, c50 = b.percentile(tw, 50), b.percentile(cli, 50)
    return ('ST: start-up → first SUBSCRIBE, taskwatch / redis-cli p50 ≤ 1.3',
            f'{t50:.2f} ms / {c50:.2f} ms = {t50 / c50:.2f}×', t50 / c50 <= 1.3)


# --------------------------------------------------------------------------
# S5: 1,000,000 ids

@dataclass
class ScaleRun(b.Run):
    snapshot_s: float = None       # spawn -> every snapshot line out (redis-cli: every channel subscribed)
    kept_rss_kb: int = None        # RSS of the peer's processes right then
    base_rss_kb: int = None        # the same for one id


def tree_rss_kb(root_pid):
    """VmRSS summed over the descendants of `root_pid` (the /usr/bin/time
    wrapper, which is left out)."""
    parent = {}
    for entry in os.scandir('/proc'):
        if entry.name.isdigit():
            try:
                with open(f'/proc/{entry.name}/stat') as f:
                    parent[int(entry.name)] = int(f.read().rsplit(')', 1)[1].split()[1])
            except OSError:
                pass
    todo, total = [c for c, p in parent.items() if p == root_pid], 0
    while todo:
        pid = todo.pop()
        todo.extend(c for c, p in parent.items() if p == pid)
        try:
            with open(f'/proc/{pid}/status') as f:
                m = re.search(r'VmRSS:\s*(\d+) kB', f.read())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


class LineCounter:
    """Counts the newlines a growing file has so far, reading only what is new."""

    def __init__(self, path):
        self.f = open(path, 'rb')
        self.count = 0

    def update(self):
        while True:
            chunk = self.f.read(1 << 20)
            if not chunk:
                return self.count
            self.count += chunk.count(b'\n')

    def close(self):
        self.f.close()


def settled(bench, peer, proc, ctx, n, deadline):
    """Waits until the peer has every channel subscribed and, for
    taskwatch, every snapshot line out; returns (subscribe s, snapshot s)."""
    subscribe_s = bench.wait_ready(peer, proc, ctx, n, deadline)
    if peer.name != 'taskwatch':
        return subscribe_s, subscribe_s
    counter = LineCounter(ctx['stdout_file'])
    try:
        while counter.update() < n:
            if proc.exited():
                raise b.BenchError('exited before its snapshot was out')
            if time.monotonic() > deadline:
                raise b.BenchError('no snapshot line per task before the deadline')
            time.sleep(0.005)
        return subscribe_s, time.monotonic() - proc.t_spawn
    finally:
        counter.close()


def base_rss_kb(bench, peer):
    """The peer's RSS once settled on one id, for the per-task figure."""
    task_id = b.make_ids(1, seed=5)[0]
    ids_file, channels_file = bench.ids_file, bench.channels_file
    bench.ids_file, bench.channels_file = bench.write_inputs('S5-one', [task_id])
    try:
        ctx = bench.context('S5-one', 0, peer, 30)
        bench.prepare()
        with open(ctx['stdout_file'], 'wb') as stdout:
            proc = bench.spawn(peer, ctx, stdout, ctx['time_file'])
        try:
            settled(bench, peer, proc, ctx, 1, proc.t_spawn + 30)
            return tree_rss_kb(proc.proc.pid)
        finally:
            proc.close()
    finally:
        bench.ids_file, bench.channels_file = ids_file, channels_file


def run_million(bench, rep, position, peer, stream, cap, base_kb):
    run = ScaleRun('S5', rep, peer.name, position, len(stream.ids), stream.n_msgs, cap_s=cap, base_rss_kb=base_kb)
    ctx = bench.context('S5', rep, peer, cap)
    bench.prepare()
    with open(ctx['stdout_file'], 'wb') as stdout:
        proc = bench.spawn(peer, ctx, stdout, ctx['time_file'])
    pub = b.Publisher(bench.server.port)
    try:
        deadline = proc.t_spawn + cap
        run.subscribe_s, run.snapshot_s = settled(bench, peer, proc, ctx, len(stream.ids), deadline)
        run.kept_rss_kb = tree_rss_kb(proc.proc.pid)
        run.cpu_at_publish_s = proc.tree_cpu_s()
        t0 = time.monotonic()
        for first, last, data in stream.batches:
            pub.send(data)
            while pub.acked < last - bench.args.window:
                pub.read_acks()
        pub.wait_acked(stream.n_msgs, deadline)
        run.publish_s = time.monotonic() - t0
        sel = selectors.DefaultSelector()
        sel.register(proc.pidfd, selectors.EVENT_READ)
        if not sel.select(max(0.0, deadline - time.monotonic())):
            run.timed_out = True
            proc.kill()
        sel.close()
        run.wall_s = time.monotonic() - t0
        bench.finish_run(run, peer, proc, ctx, len(stream.ids))
    except b.BenchError as e:
        proc.kill()
        run.error = str(e)
        run.ok = False
    finally:
        pub.close()
        proc.close()
    b.log(f'S5 rep {rep} {peer.name:<11} subscribe {b.fmt(run.subscribe_s, 3)} s snapshot {b.fmt(run.snapshot_s, 3)} s '
          f'kept {b.fmt(b.mb(run.kept_rss_kb), 1)} MB peak {b.fmt(b.mb(run.maxrss_kb), 1)} MB '
          f'wall {b.fmt(run.wall_s, 3)} s  {"ok" if run.ok else "FAILED: " + run.error}')
    return run


def per_task_bytes(run):
    if run.kept_rss_kb is None or run.base_rss_kb is None:
        return None
    return (run.kept_rss_kb - run.base_rss_kb) * 1024 / run.tasks


def summarize_million(runs, peers):
    n = runs[0].tasks if runs else 0
    reps = max((r.rep for r in runs), default=-1) + 1
    lines = [f'### S5 — {n:,} ids ({reps} rep{"s" * (reps != 1)}): spawn → subscribed → snapshot, memory kept, '
             'then one SUCCESS each', '',
             '| peer | subscribe s | snapshot s | kept RSS MB | kept B/task | peak RSS MB | wall s (stream) | '
             'CPU s | runs ok |', '|---|---|---|---|---|---|---|---|---|']
    for name in ('floor', 'taskwatch'):
        rs = [r for r in runs if r.peer == name]
        if not rs:
            continue
        good = [r for r in rs if r.ok]
        lines.append(
            f'| {peers[name].label} | {b.spread([r.subscribe_s for r in good], 3)} | '
            f'{b.spread([r.snapshot_s for r in good], 3) if name == "taskwatch" else "(= subscribe)"} | '
            f'{b.spread([b.mb(r.kept_rss_kb) for r in good], 1)} | {b.spread([per_task_bytes(r) for r in good], 1)} | '
            f'{b.spread([b.mb(r.maxrss_kb) for r in good], 1)} | {b.spread([r.wall_s for r in good], 3)} | '
            f'{b.spread([b.cpu(r) for r in good], 2)} | {len(good)}/{len(rs)} |')
    lines.append('')
    lines.append('kept B/task = (RSS once settled − RSS settled on one id) / ids; for redis-cli the counter '
                 'and redis-cli together.')
    return '\n'.join(lines)


def million_targets(runs):
    def med(name, attr):
        return b.med([getattr(r, attr) for r in runs if r.peer == name and r.ok])

    rows = []
    rss = med('taskwatch', 'maxrss_kb')
    if rss:
        rows.append(('S5: peak RSS at 1,000,000 ids ≤ 120 MB', f'{rss / 1024:.1f} MB', rss / 1024 <= 120))
    kept = b.med([per_task_bytes(r) for r in runs if r.peer == 'taskwatch' and r.ok])
    if kept is not None:
        rows.append(('S5: memory kept per task ≤ 100 B', f'{kept:.1f} B', kept <= 100))
    snap, sub = med('taskwatch', 'snapshot_s'), med('floor', 'subscribe_s')
    if snap and sub:
        rows.append(('S5: spawn → snapshot printed ≤ redis-cli\'s spawn → subscribed',
                     f'{snap:.3f} s / {sub:.3f} s = {snap / sub:.2f}×', snap <= sub))
    return rows
